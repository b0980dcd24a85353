package certificateauthority_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/testenv"
)

// reconciles is controller-runtime's reconcile count of the
// CertificateAuthority controller (all results).
func reconciles(t *testing.T) float64 {
	t.Helper()
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelOf(m, "controller") == "certificateauthority" {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// A ClusterCertificateAuthority's namespaceSelector target reaches 100
// labelled namespaces (a ConfigMap of a fixed name in each, counted in
// status), follows a namespace created later and one that goes away.
func TestNamespaceSelectorFollows100Namespaces(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.namespace(t, "trust-home")
	e.startManager(t, nil, false)
	cca := &v1alpha1.ClusterCertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "org"},
		Spec: v1alpha1.ClusterCertificateAuthoritySpec{
			Namespace: "trust-home",
			CertificateAuthoritySpec: v1alpha1.CertificateAuthoritySpec{
				Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
				TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "org-ca",
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "org"}}}},
			},
		},
	}
	label := func(name string) {
		if err := e.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"trust": "org"}}}); err != nil {
			t.Fatal(err)
		}
	}
	e.namespace(t, "unlabelled")
	start := time.Now()
	for i := range 100 {
		label(fmt.Sprintf("team-%03d", i))
	}
	if err := e.c.Create(ctx, cca); err != nil {
		t.Fatal(err)
	}
	e.waitExists(t, "trust-home", "org")
	ca := e.waitFor(t, "trust-home", "org", 180*time.Second, "100 namespaces reached", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.TrustBundleNamespaces == 100
	})
	t.Logf("figure: 100 namespaces reached %.1fs after their creation", time.Since(start).Seconds())
	active := ca.Status.Active.Fingerprint
	hasBundle := func(nsName string) bool {
		cm := &corev1.ConfigMap{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: nsName, Name: "org-ca"}, cm); err != nil {
			return false
		}
		fps := fingerprints(t, []byte(cm.Data["ca.crt"]))
		return len(fps) == 1 && fps[0] == active
	}
	for i := range 100 {
		if n := fmt.Sprintf("team-%03d", i); !hasBundle(n) {
			t.Fatalf("namespace %s has no bundle ConfigMap org-ca with the active CA", n)
		}
	}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "unlabelled", Name: "org-ca"}, &corev1.ConfigMap{}); err == nil {
		t.Fatal("an unlabelled namespace got the bundle")
	}

	// A new namespace: followed by the reconcile its creation triggers.
	before := reconciles(t)
	start = time.Now()
	label("team-new")
	deadline := time.Now().Add(60 * time.Second)
	for !hasBundle("team-new") {
		if time.Now().After(deadline) {
			t.Fatal("the new namespace never got the bundle")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("figure: new namespace got the bundle %.0fms after its creation, %.0f reconcile(s) of the controller in between", float64(time.Since(start).Milliseconds()), reconciles(t)-before)
	e.waitFor(t, "trust-home", "org", 60*time.Second, "101 namespaces counted", func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.TrustBundleNamespaces == 101
	})
	// One goes away (terminating: envtest runs no namespace controller).
	if err := e.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-000"}}); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "trust-home", "org", 60*time.Second, "a terminating namespace no longer counted", func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.TrustBundleNamespaces == 100
	})
	cc := &v1alpha1.ClusterCertificateAuthority{}
	if err := e.c.Get(ctx, types.NamespacedName{Name: "org"}, cc); err != nil {
		t.Fatal(err)
	}
	t.Logf("ClusterCertificateAuthority status.trustBundleNamespaces = %d", cc.Status.TrustBundleNamespaces)
}

// A namespaced CertificateAuthority may not select namespaces: refused with
// NamespaceForbidden naming the field, nothing written.
func TestNamespaceSelectorRefusedOnANamespacedCA(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.startManager(t, nil, false)
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "sel", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "x",
				NamespaceSelector: &metav1.LabelSelector{}}},
		},
	}
	if err := e.c.Create(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	if _, c := e.waitDegraded(t, ns, "sel", "NamespaceForbidden", 60*time.Second); !strings.Contains(c.Message, "spec.trustBundles[0].namespaceSelector") {
		t.Fatalf("message %q does not name the field", c.Message)
	}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "sel-handover-ca"}, &corev1.Secret{}); err == nil {
		t.Fatal("a refused object got a managed copy")
	}
}

// spec.certManager naming a Certificate on a cluster without cert-manager:
// Degraded ConsumerNotFound naming the field, nothing written.
func TestCertManagerCertificateMissingIsBadInput(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.startManager(t, nil, false)
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:      v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			CertManager: &v1alpha1.CertManagerLeaves{Certificates: []string{"gateway"}},
		},
	}
	if err := e.c.Create(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	if _, c := e.waitDegraded(t, ns, "cm", "ConsumerNotFound", 60*time.Second); !strings.Contains(c.Message, "spec.certManager.certificates") || !strings.Contains(c.Message, "app/gateway") {
		t.Fatalf("message %q does not name the field and the Certificate", c.Message)
	}
	for _, name := range []string{"cm-handover-ca", "cm-handover-issuer"} {
		if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &corev1.Secret{}); err == nil {
			t.Fatalf("bad input wrote Secret %s", name)
		}
	}
}

// A namespace created while a rotation runs gets the overlap bundle (it
// trusts the leaves of both CAs at any step) within a reconcile, not after
// the grace period; the rotation's end brings it to the resting bundle.
func TestNamespaceSelectorFollowsDuringARotation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	home := "trust-home"
	e.namespace(t, home)
	e.deployment(t, home, "gw", map[string]string{"app": "gw"})
	addr := serveMTLS(t, startMount(t, e.c, home, "gw-tls", 200*time.Millisecond))
	e.startManager(t, nil, false)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "org"}}
	cca := &v1alpha1.ClusterCertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "org"},
		Spec: v1alpha1.ClusterCertificateAuthoritySpec{
			Namespace: home,
			CertificateAuthoritySpec: v1alpha1.CertificateAuthoritySpec{
				Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
				TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "org-ca", NamespaceSelector: sel}},
				Certificates: []v1alpha1.CertificateSpec{{SecretName: "gw-tls", DNSNames: []string{"gw.test"}}},
				Consumers: []v1alpha1.Consumer{{Name: "gw", Kind: "Deployment", WorkloadName: "gw", Reload: v1alpha1.ReloadHot,
					Probe: &v1alpha1.ConsumerProbe{Address: addr, ServerName: "gw.test"}}},
				PropagationTimeout: v1alpha1.NewDuration(time.Second),
				GracePeriod:        v1alpha1.NewDuration(20 * time.Second),
			},
		},
	}
	if err := e.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "early", Labels: sel.MatchLabels}}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Create(ctx, cca); err != nil {
		t.Fatal(err)
	}
	e.waitExists(t, home, "org")
	ca := e.waitFor(t, home, "org", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.TrustBundleNamespaces == 1
	})
	first := ca.Status.Active.Fingerprint

	if err := testenv.Annotate(ctx, e.c, cca, v1alpha1.AnnotationRotate, "1"); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, home, "org", 90*time.Second, "the grace step", func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.Rotation != nil && ca.Status.Rotation.Phase == "keep-previous-ca-for-grace-period"
	})
	if err := e.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "late", Labels: sel.MatchLabels}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cm := &corev1.ConfigMap{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: "late", Name: "org-ca"}, cm); err == nil {
			got = fingerprints(t, []byte(cm.Data["ca.crt"]))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the namespace created during the rotation got no bundle")
		}
	}
	cur := e.get(t, home, "org")
	if r := cur.Status.Rotation; r == nil || r.Outcome != "" {
		t.Fatalf("the rotation ended before the check (rotation %+v); the 20s grace period is too short for this machine", r)
	}
	if len(got) != 2 || got[0] != cur.Status.Active.Fingerprint || got[1] != first {
		t.Fatalf("bundle of a namespace created during the rotation = %v, want the overlap [new, %s]", got, first)
	}
	done := e.waitFor(t, home, "org", 90*time.Second, "rotation ends", rotatedFrom(first))
	for _, n := range []string{"early", "late"} {
		cm := &corev1.ConfigMap{}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: n, Name: "org-ca"}, cm); err != nil {
				t.Fatal(err)
			}
			fps := fingerprints(t, []byte(cm.Data["ca.crt"]))
			if len(fps) == 1 && fps[0] == done.Status.Active.Fingerprint {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("namespace %s bundle after the rotation = %v, want [%s]", n, fps, done.Status.Active.Fingerprint)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitExists waits (at most 60s) until CertificateAuthority ns/name exists,
// e.g. the run-as object of a ClusterCertificateAuthority.
func (e *env) waitExists(t *testing.T, ns, name string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &v1alpha1.CertificateAuthority{}); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CertificateAuthority %s/%s was never created", ns, name)
		}
	}
}
