package certificateauthority_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/trust"
)

const cmNS = "kyma-system"

// cmObject is a cert-manager.io/v1 object of kind in cmNS.
func cmObject(kind, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": cmNS},
		"spec":     spec,
	}}
	return u
}

func withLabels(u *unstructured.Unstructured, l map[string]string) *unstructured.Unstructured {
	u.SetLabels(l)
	return u
}

// cmRenew triggers re-issuance of Certificate name as `cmctl renew` does.
func cmRenew(t *testing.T, c client.Client, name string) {
	t.Helper()
	for {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("cert-manager.io/v1")
		u.SetKind("Certificate")
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: cmNS, Name: name}, u); err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		conds = append(conds, map[string]any{"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
			"message": "test", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": u.GetGeneration()})
		if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
			t.Fatal(err)
		}
		err := c.Status().Update(context.Background(), u)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
}

// leafIssuer returns the fingerprint of the CA among cas that signed the
// leaf in Secret name's tls.crt ("" if none or absent).
func leafIssuer(c client.Client, name string, cas ...*x509.Certificate) string {
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: cmNS, Name: name}, s); err != nil {
		return ""
	}
	certs, err := trust.ParseCertificates(s.Data["tls.crt"])
	if err != nil {
		return ""
	}
	for _, ca := range cas {
		if certs[0].CheckSignatureFrom(ca) == nil {
			return trust.Fingerprint(ca)
		}
	}
	return ""
}

func secretCert(t *testing.T, c client.Client, name string) *x509.Certificate {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: cmNS, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	certs, err := trust.ParseCertificates(s.Data["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// startMergedMount mirrors, like the kubelet, the leaf (tls.crt, tls.key)
// of Secret leaf and the trust bundle (ca.crt) of Secret bundle, each new
// version exposed after delay: a workload mounting its cert-manager leaf
// and handover's trust bundle.
func startMergedMount(t *testing.T, c client.Client, leaf, bundle string, delay time.Duration) *mount {
	t.Helper()
	return startMountOf(t, delay, func(ctx context.Context) (map[string][]byte, bool) {
		l, b := &corev1.Secret{}, &corev1.Secret{}
		if c.Get(ctx, types.NamespacedName{Namespace: cmNS, Name: leaf}, l) != nil || c.Get(ctx, types.NamespacedName{Namespace: cmNS, Name: bundle}, b) != nil {
			return nil, false
		}
		return map[string][]byte{"tls.crt": l.Data["tls.crt"], "tls.key": l.Data["tls.key"], "ca.crt": b.Data["ca.crt"]}, true
	})
}

// Seed 000 with the real cert-manager: cert-manager owns the root (a
// SelfSigned Issuer, a CA Certificate) and issues the gateway's and the
// client's leaves through a CA Issuer reading handover's issuer Secret;
// handover owns the trust bundle the workloads trust and decides when the
// new root reaches them. cert-manager rotates the root; handover stages it,
// re-issues the cert-manager leaves at the switch-leaves step and waits
// for them; live mTLS traffic sees no failed handshake; the revert goes
// back the same way. Everything at the API's defaults except the waits.
func TestCertManagerRootRotationStagedByHandover(t *testing.T) {
	e := newEnv(t)
	testenv.StartCertManager(t, e.cfg)
	ctx := context.Background()
	e.namespace(t, cmNS)
	e.deployment(t, cmNS, "gateway", map[string]string{"app": "gateway"})
	e.deployment(t, cmNS, "client", map[string]string{"app": "client"})

	for _, o := range []*unstructured.Unstructured{
		cmObject("Issuer", "selfsigned", map[string]any{"selfSigned": map[string]any{}}),
		cmObject("Certificate", "klm-root", map[string]any{
			"isCA": true, "commonName": "klm-watcher-root", "secretName": "klm-root",
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256), "rotationPolicy": "Always"},
			"issuerRef":  map[string]any{"name": "selfsigned", "kind": "Issuer"},
		}),
		cmObject("Issuer", "klm-handover", map[string]any{"ca": map[string]any{"secretName": "klm-handover-issuer"}}),
		cmObject("Certificate", "gateway", map[string]any{
			"secretName": "gateway-tls", "dnsNames": []any{"gw.test"}, "ipAddresses": []any{"127.0.0.1"},
			"usages":     []any{"server auth", "client auth"},
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
			"issuerRef":  map[string]any{"name": "klm-handover", "kind": "Issuer"},
		}),
		withLabels(cmObject("Certificate", "client", map[string]any{
			"secretName": "client-tls", "commonName": "client", "usages": []any{"client auth"},
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
			"issuerRef":  map[string]any{"name": "klm-handover", "kind": "Issuer"},
		}), map[string]string{"handover.dev/ca": "klm"}),
	} {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	root1 := func() *x509.Certificate {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			s := &corev1.Secret{}
			if e.c.Get(ctx, types.NamespacedName{Namespace: cmNS, Name: "klm-root"}, s) == nil && len(s.Data["tls.crt"]) > 0 {
				return secretCert(t, e.c, "klm-root")
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatal("cert-manager never issued the root klm-root")
		return nil
	}()

	gwMount := startMergedMount(t, e.c, "gateway-tls", "klm-ca-bundle", 300*time.Millisecond)
	clientMount := startMergedMount(t, e.c, "client-tls", "klm-ca-bundle", 300*time.Millisecond)
	addr := serveMTLS(t, gwMount)
	e.startManager(t, nil, false)
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "klm", Namespace: cmNS},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{SecretRef: &v1alpha1.CASecretRef{Name: "klm-root"}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "klm-ca-bundle"}},
			// One by name, one by label: both ways of naming them.
			CertManager: &v1alpha1.CertManagerLeaves{Certificates: []string{"gateway"},
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"handover.dev/ca": "klm"}}},
			Consumers: []v1alpha1.Consumer{
				{Name: "gateway", Kind: "Deployment", WorkloadName: "gateway", Reload: v1alpha1.ReloadHot,
					Probe: &v1alpha1.ConsumerProbe{Address: addr, ServerName: "gw.test"}},
				{Name: "client", Kind: "Deployment", WorkloadName: "client", Reload: v1alpha1.ReloadHot},
			},
			PropagationTimeout: v1alpha1.NewDuration(2 * time.Second),
			GracePeriod:        v1alpha1.NewDuration(2 * time.Second),
		},
	}
	if err := e.c.Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, cmNS, "klm", 90*time.Second, "first publish Ready", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil && ca.Status.Active.Fingerprint == trust.Fingerprint(root1)
	})
	waitLeaves := func(what string, want *x509.Certificate, others ...*x509.Certificate) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			all := append([]*x509.Certificate{want}, others...)
			if leafIssuer(e.c, "gateway-tls", all...) == trust.Fingerprint(want) && leafIssuer(e.c, "client-tls", all...) == trust.Fingerprint(want) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s: cert-manager's leaves are not signed by %s", what, trust.Fingerprint(want))
	}
	waitLeaves("first publish", root1)

	tr := startTraffic(t, addr, "gw.test", clientMount)
	tr.waitFlowing(t)

	// cert-manager rotates the root (a new key: rotationPolicy Always).
	// Before the switch-leaves step neither the issuer Secret nor the
	// leaves may move to the new root: sample them with the phase.
	steps := sampleSteps(t, e.c, root1)
	cmRenew(t, e.c, "klm-root")
	var root2 *x509.Certificate
	rotated := e.waitFor(t, cmNS, "klm", 180*time.Second, "staged rotation to cert-manager's new root", func(ca *v1alpha1.CertificateAuthority) bool {
		if r := ca.Status.Rotation; r != nil && r.Outcome == "Failed" {
			t.Fatalf("rotation failed: %s", r.Reason)
		}
		return rotatedFrom(trust.Fingerprint(root1))(ca)
	})
	steps.check(t)
	root2 = secretCert(t, e.c, "klm-root")
	if rotated.Status.Active.Fingerprint != trust.Fingerprint(root2) || rotated.Status.Rotation.Trigger != certificateauthority.TriggerSourceChanged {
		t.Fatalf("rotation %+v to %s, want source-changed to cert-manager's new root %s", rotated.Status.Rotation, rotated.Status.Active.Fingerprint, trust.Fingerprint(root2))
	}
	waitLeaves("after the rotation", root2, root1)
	if got := fingerprints(t, secretDataIn(t, e.c, cmNS, "klm-ca-bundle")["ca.crt"]); len(got) != 1 || got[0] != trust.Fingerprint(root2) {
		t.Fatalf("bundle after the rotation %v, want [%s]", got, trust.Fingerprint(root2))
	}
	time.Sleep(time.Second) // traffic on the final state
	ok, failed, last := tr.snapshot()
	t.Logf("rotation: %d handshakes, %d failed", ok, failed)
	if failed != 0 {
		t.Fatalf("%d of %d handshakes failed during the rotation; last: %v", failed, ok+failed, last)
	}

	// Revert: back to the previous root, make-before-break, the
	// cert-manager leaves re-issued from it the same way.
	e.annotate(t, cmNS, "klm", certificateauthority.AnnotationRevert, "1")
	e.waitFor(t, cmNS, "klm", 180*time.Second, "revert to the previous root", func(ca *v1alpha1.CertificateAuthority) bool {
		if r := ca.Status.Rotation; r != nil && r.Outcome == "Failed" {
			t.Fatalf("revert failed: %s", r.Reason)
		}
		return rotatedFrom(trust.Fingerprint(root2))(ca) && ca.Status.Active.Fingerprint == trust.Fingerprint(root1)
	})
	waitLeaves("after the revert", root1, root2)
	time.Sleep(time.Second)
	ok2, failed2, last2 := tr.snapshot()
	t.Logf("revert: %d handshakes, %d failed", ok2-ok, failed2-failed)
	if failed2 != 0 {
		t.Fatalf("%d handshakes failed during the revert; last: %v", failed2, last2)
	}
}

func secretDataIn(t *testing.T, c client.Client, namespace, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// stepSampler records, every 50ms, whether the issuer Secret and the
// gateway's leaf still hold the old root, and the rotation's phase read
// after them (so a phase is never older than the Secrets it is paired with).
type stepSampler struct {
	stop    chan struct{}
	done    chan struct{}
	early   int      // samples taken before the switch-leaves step
	touched []string // phases in which something had already moved
}

func sampleSteps(t *testing.T, c client.Client, old *x509.Certificate) *stepSampler {
	t.Helper()
	s := &stepSampler{stop: make(chan struct{}), done: make(chan struct{})}
	oldFP := trust.Fingerprint(old)
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			leafOld := leafIssuer(c, "gateway-tls", old) == oldFP
			iss := &corev1.Secret{}
			issuerOld := false
			if c.Get(context.Background(), types.NamespacedName{Namespace: cmNS, Name: "klm-handover-issuer"}, iss) == nil {
				if certs, err := trust.ParseCertificates(iss.Data["tls.crt"]); err == nil {
					issuerOld = trust.Fingerprint(certs[0]) == oldFP
				}
			}
			ca := &v1alpha1.CertificateAuthority{}
			if c.Get(context.Background(), types.NamespacedName{Namespace: cmNS, Name: "klm"}, ca) != nil || ca.Status.Rotation == nil || ca.Status.Rotation.Outcome != "" {
				continue
			}
			switch ph := ca.Status.Rotation.Phase; ph {
			case rotation.StepAddCA, rotation.StepTrustNewCA:
				s.early++
				if !leafOld || !issuerOld {
					s.touched = append(s.touched, ph)
				}
			}
		}
	}()
	t.Cleanup(s.halt)
	return s
}

func (s *stepSampler) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// check fails when the issuer Secret or a leaf moved to the new CA before
// the switch-leaves step, or when no sample fell before it.
func (s *stepSampler) check(t *testing.T) {
	t.Helper()
	s.halt()
	if len(s.touched) > 0 {
		t.Fatalf("issuer Secret or leaf moved to the new root before %s (phases %v)", rotation.StepSwitchLeaves, s.touched)
	}
	if s.early == 0 {
		t.Fatalf("no sample before %s: nothing checked", rotation.StepSwitchLeaves)
	}
	t.Logf("%d samples before %s: issuer Secret and leaf still on the old root", s.early, rotation.StepSwitchLeaves)
}
