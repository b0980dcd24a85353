package certificateauthority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// policyCA is a generate-mode CA with one probed hot consumer (gw-tls) and
// one leaf nobody mounts (batch-tls).
func policyCA(name, probeAddr string, maxCAs int32, grace time.Duration) *v1alpha1.CertificateAuthority {
	return &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{CommonName: name + "-root"}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: name + "-bundle"}},
			BundlePolicy: v1alpha1.BundlePolicy{MaxCAs: maxCAs},
			Certificates: []v1alpha1.CertificateSpec{
				{SecretName: "gw-tls", DNSNames: []string{"gw.test"}},
				{SecretName: "batch-tls", CommonName: "batch", Usages: []v1alpha1.Usage{v1alpha1.UsageClient}},
			},
			Consumers: []v1alpha1.Consumer{{Name: "gw", Kind: "Deployment", WorkloadName: "gw", Reload: v1alpha1.ReloadHot,
				Probe: &v1alpha1.ConsumerProbe{Address: probeAddr, ServerName: "gw.test"}}},
			PropagationTimeout: v1alpha1.NewDuration(1500 * time.Millisecond),
			GracePeriod:        v1alpha1.NewDuration(grace),
		},
	}
}

func bundleFPs(t *testing.T, e *env, name string) []string {
	t.Helper()
	return fingerprints(t, secretData(t, e.c, name)["ca.crt"])
}

func join(fps ...string) string { return strings.Join(fps, ",") }

// maxCAs 3: each rotation's overlap holds the new CA and up to two previous
// ones (the second rotation: [C, B, A]); between rotations the bundle keeps
// one previous CA ([B, A], then [C, B]); status lists the previous CAs.
func TestMaxCAs3KeepsTwoPreviousCAsThroughTwoRotations(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.deployment(t, ns, "gw", map[string]string{"app": "gw"})
	addr := serveMTLS(t, startMount(t, e.c, ns, "gw-tls", 200*time.Millisecond))
	e.startManager(t, nil, false)
	if err := e.c.Create(context.Background(), policyCA("p3", addr, 3, 3*time.Second)); err != nil {
		t.Fatal(err)
	}
	ca := e.waitFor(t, ns, "p3", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool { return ready(ca) && ca.Status.Active != nil })
	a := ca.Status.Active.Fingerprint

	e.annotate(t, ns, "p3", certificateauthority.AnnotationRotate, "1")
	ca = e.waitFor(t, ns, "p3", 90*time.Second, "rotation 1", rotatedFrom(a))
	b := ca.Status.Active.Fingerprint
	if got := bundleFPs(t, e, "p3-bundle"); join(got...) != join(b, a) {
		t.Fatalf("bundle after rotation 1 = %v, want [B A] (maxCAs 3 keeps one previous CA between rotations)", got)
	}
	if len(ca.Status.Previous) != 1 || ca.Status.Previous[0].Fingerprint != a {
		t.Fatalf("status.previous after rotation 1 = %+v, want [A]", ca.Status.Previous)
	}

	// Rotation 2: watch the bundle target for the overlap [C, B, A].
	e.annotate(t, ns, "p3", certificateauthority.AnnotationRotate, "2")
	sawThree := ""
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		cur := e.get(t, ns, "p3")
		if fps := bundleFPs(t, e, "p3-bundle"); len(fps) == 3 {
			sawThree = join(fps...)
			if len(cur.Status.Previous) != 2 || cur.Status.Previous[0].Fingerprint != b || cur.Status.Previous[1].Fingerprint != a {
				t.Fatalf("status.previous during rotation 2 = %+v, want [B A]", cur.Status.Previous)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ca = e.waitFor(t, ns, "p3", 90*time.Second, "rotation 2", rotatedFrom(b))
	c := ca.Status.Active.Fingerprint
	if sawThree != join(c, b, a) {
		t.Fatalf("overlap bundle of rotation 2 = %q, want [C B A]", sawThree)
	}
	if got := bundleFPs(t, e, "p3-bundle"); join(got...) != join(c, b) {
		t.Fatalf("bundle after rotation 2 = %v, want [C B]", got)
	}
	if p := ca.Status.Previous; len(p) != 2 || p[0].Fingerprint != b || p[1].Fingerprint != a {
		t.Fatalf("status.previous after rotation 2 = %+v, want [B A] (A's certificate only, no key)", p)
	}
	if d := secretData(t, e.c, "p3-handover-ca"); len(d["retired.crt"]) == 0 || strings.Contains(string(d["retired.crt"]), "PRIVATE KEY") {
		t.Fatalf("managed copy retired.crt missing or holding a key")
	}
}

// At the API's defaults (maxCAs 2): a leaf of the previous CA still in use
// when the grace period ends keeps the previous CA in the bundle; the
// reason names the rule in status.rotation; once the leaf is re-issued from
// the active CA the rotation finishes.
func TestSignerRuleRefusesToDropACAWithALeafInUse(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.deployment(t, ns, "gw", map[string]string{"app": "gw"})
	addr := serveMTLS(t, startMount(t, e.c, ns, "gw-tls", 200*time.Millisecond))
	e.startManager(t, nil, false)
	// Created with maxCAs unset: the API's default applies.
	if err := e.c.Create(context.Background(), policyCA("p2", addr, 0, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	ca := e.waitFor(t, ns, "p2", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool { return ready(ca) && ca.Status.Active != nil })
	if ca.Spec.BundlePolicy.MaxCAs != 2 {
		t.Fatalf("default maxCAs = %d, want 2", ca.Spec.BundlePolicy.MaxCAs)
	}
	first := ca.Status.Active.Fingerprint
	oldBatch := secretData(t, e.c, "batch-tls")

	e.annotate(t, ns, "p2", certificateauthority.AnnotationRotate, "1")
	e.waitFor(t, ns, "p2", 90*time.Second, "the grace step", func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.Rotation != nil && ca.Status.Rotation.Phase == rotation.StepGracePeriod
	})
	// Someone restores batch-tls from a backup: a leaf of the previous CA.
	restore := func(data map[string][]byte) {
		t.Helper()
		s := &corev1.Secret{}
		if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "batch-tls"}, s); err != nil {
			t.Fatal(err)
		}
		s.Data["tls.crt"], s.Data["tls.key"] = data["tls.crt"], data["tls.key"]
		if err := e.c.Update(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	newBatch := secretData(t, e.c, "batch-tls")
	restore(oldBatch)
	ca = e.waitFor(t, ns, "p2", 60*time.Second, "the signer rule's reason in status", func(ca *v1alpha1.CertificateAuthority) bool {
		r := ca.Status.Rotation
		if r == nil {
			return false
		}
		for _, s := range r.Steps {
			if s.Name == rotation.StepGracePeriod && strings.Contains(s.Reason, "signs a leaf in use") {
				return true
			}
		}
		return false
	})
	if fps := bundleFPs(t, e, "p2-bundle"); len(fps) != 2 || fps[1] != first {
		t.Fatalf("bundle while the leaf is in use = %v, want [new, %s]", fps, first)
	}
	for _, s := range ca.Status.Rotation.Steps {
		if s.Name == rotation.StepGracePeriod {
			t.Logf("status.rotation.steps[%s].reason: %s", s.Name, s.Reason)
			if strings.Contains(s.Reason, "PRIVATE KEY") || !strings.Contains(s.Reason, trust.ErrBundleWouldDropSigner.Error()) {
				t.Fatalf("reason %q does not name the rule", s.Reason)
			}
		}
	}
	restore(newBatch)
	ca = e.waitFor(t, ns, "p2", 90*time.Second, "rotation ends once the leaf is re-issued", rotatedFrom(first))
	if fps := bundleFPs(t, e, "p2-bundle"); len(fps) != 1 || fps[0] != ca.Status.Active.Fingerprint {
		t.Fatalf("final bundle = %v, want [active]", fps)
	}
}
