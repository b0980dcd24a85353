package certificateauthority_test

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
)

func TestDependenciesOf(t *testing.T) {
	t.Parallel()
	meta := metav1.ObjectMeta{Name: "gw", Namespace: "team"}
	for _, tc := range []struct {
		name string
		spec v1alpha1.CertificateAuthoritySpec
		want []string
	}{
		{"generate, one bundle Secret", v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "b"}},
		}, []string{"Secret/team/gw-handover-ca", "Namespace//team", "Secret/team/b"}},
		{"source root, ConfigMap bundle elsewhere, leaf, workloads by name and selector", v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{SecretRef: &v1alpha1.CASecretRef{Name: "root"}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "b", Namespace: "edge"}},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "tls"}},
			Consumers: []v1alpha1.Consumer{
				{Name: "a", Kind: "StatefulSet", WorkloadName: "db"},
				{Name: "s", Kind: "Deployment", Namespace: "edge", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}},
			},
		}, []string{"Secret/team/gw-handover-ca", "Namespace//team", "Secret/team/root", "ConfigMap/edge/b", "Namespace//edge",
			"Secret/team/tls", "StatefulSet/team/db", "Deployment/edge/*"}},
		{"namespaceSelector bundle, cert-manager leaves", v1alpha1.CertificateAuthoritySpec{
			Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "trust",
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mesh": "on"}}}},
			CertManager: &v1alpha1.CertManagerLeaves{Certificates: []string{"gw"}},
		}, []string{"Secret/team/gw-handover-ca", "Namespace//team", "ConfigMap/team/trust", "ConfigMap/*/trust", "Namespace//*", "Secret/team/*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := certificateauthority.DependenciesOf(&v1alpha1.CertificateAuthority{ObjectMeta: meta, Spec: tc.spec})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DependenciesOf =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestKeysOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind, ns, name string
		want           []string
	}{
		{"Secret", "team", "b", []string{"Secret/team/b", "Secret/team/*", "Secret/*/b"}},
		{"Deployment", "team", "gw", []string{"Deployment/team/gw", "Deployment/team/*", "Deployment/*/gw"}},
		{"Namespace", "", "team", []string{"Namespace//team", "Namespace//*"}},
	} {
		if got := certificateauthority.KeysOf(tc.kind, tc.ns, tc.name); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("KeysOf(%s, %s, %s) = %q, want %q", tc.kind, tc.ns, tc.name, got, tc.want)
		}
	}
	// Every key DependenciesOf indexes for a name-addressed dependency is
	// among the keys of that object's events.
	ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "team"}, Spec: v1alpha1.CertificateAuthoritySpec{
		Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
		TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "b", Namespace: "edge"}},
		Consumers:    []v1alpha1.Consumer{{Name: "s", Kind: "Deployment", Selector: &metav1.LabelSelector{}}},
	}}
	events := map[string][]string{
		"ConfigMap/edge/b":  certificateauthority.KeysOf("ConfigMap", "edge", "b"),
		"Deployment/team/*": certificateauthority.KeysOf("Deployment", "team", "any-deployment"),
		"Namespace//edge":   certificateauthority.KeysOf("Namespace", "", "edge"),
	}
	deps := map[string]bool{}
	for _, d := range certificateauthority.DependenciesOf(ca) {
		deps[d] = true
	}
	for dep, keys := range events {
		hit := false
		for _, k := range keys {
			hit = hit || deps[k]
		}
		if !deps[dep] || !hit {
			t.Errorf("an event of %s does not reach the CA (dependencies %v)", dep, deps)
		}
	}
}

func TestJoinProblems(t *testing.T) {
	t.Parallel()
	a := &certificateauthority.Problem{Reason: "TargetForbidden", Field: "metadata.namespace", Message: "may not"}
	b := &certificateauthority.Problem{Reason: "ConsumerNotFound", Field: "spec.consumers[0].workloadName", Message: "not found"}
	c := &certificateauthority.Problem{Reason: "NotOwned", Field: "spec.trustBundles[0].name", Message: "not ours"}
	for _, tc := range []struct {
		name string
		in   []*certificateauthority.Problem
		want *certificateauthority.Problem
	}{
		{"none", nil, nil},
		{"one is itself", []*certificateauthority.Problem{b}, b},
		{"several: the first's reason and field, every message", []*certificateauthority.Problem{a, b, c}, &certificateauthority.Problem{
			Reason: "TargetForbidden", Field: "metadata.namespace",
			Message: "may not (and 2 more problems: spec.consumers[0].workloadName: not found; spec.trustBundles[0].name: not ours)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := certificateauthority.JoinProblems(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("JoinProblems = %+v, want %+v", got, tc.want)
			}
		})
	}
}
