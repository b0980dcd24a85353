package validation

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func TestScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   v1alpha1.CertificateAuthoritySpec
		fields []string
	}{
		{"all defaulted", v1alpha1.CertificateAuthoritySpec{
			TrustBundles: []v1alpha1.TrustBundleTarget{{Name: "b"}},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "l"}},
			Consumers:    []v1alpha1.Consumer{{Name: "c"}},
		}, nil},
		{"own namespace named", v1alpha1.CertificateAuthoritySpec{
			TrustBundles: []v1alpha1.TrustBundleTarget{{Name: "b", Namespace: "team"}},
		}, nil},
		{"every other namespace", v1alpha1.CertificateAuthoritySpec{
			TrustBundles: []v1alpha1.TrustBundleTarget{{Name: "b"}, {Name: "b", Namespace: "kube-system"}},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "l", Namespace: "victim"}},
			Consumers:    []v1alpha1.Consumer{{Name: "c", Namespace: "victim"}},
		}, []string{"spec.trustBundles[1].namespace", "spec.certificates[0].namespace", "spec.consumers[0].namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := Scope(&v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "ca"}, Spec: tt.spec})
			if len(errs) != len(tt.fields) {
				t.Fatalf("Scope = %v, want errors at %v", errs, tt.fields)
			}
			for i, e := range errs {
				if e.Field != tt.fields[i] {
					t.Errorf("error %d at %s, want %s", i, e.Field, tt.fields[i])
				}
			}
		})
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		probe  v1alpha1.ConsumerProbe
		fields []string
	}{
		{"address", v1alpha1.ConsumerProbe{Address: "gw.team.svc:443"}, nil},
		{"service, one port", v1alpha1.ConsumerProbe{Service: "gw"}, nil},
		{"service, named port", v1alpha1.ConsumerProbe{Service: "gw", Port: "mtls", ServerName: "gw.example"}, nil},
		{"neither", v1alpha1.ConsumerProbe{}, []string{"p"}},
		{"both", v1alpha1.ConsumerProbe{Address: "gw:443", Service: "gw"}, []string{"p"}},
		{"address without port", v1alpha1.ConsumerProbe{Address: "gw"}, []string{"p.address"}},
		{"port with address", v1alpha1.ConsumerProbe{Address: "gw:443", Port: "mtls"}, []string{"p.port"}},
		{"service not a label", v1alpha1.ConsumerProbe{Service: "Gw.x"}, []string{"p.service"}},
		{"port not a port name", v1alpha1.ConsumerProbe{Service: "gw", Port: "-bad-"}, []string{"p.port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := probe(field.NewPath("p"), &tt.probe)
			if len(errs) != len(tt.fields) {
				t.Fatalf("probe = %v, want errors at %v", errs, tt.fields)
			}
			for i, e := range errs {
				if e.Field != tt.fields[i] {
					t.Errorf("error %d at %s, want %s", i, e.Field, tt.fields[i])
				}
			}
		})
	}
}
