package certificateauthority_test

import (
	"context"
	"crypto/x509"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/trust"
)

const ns = "app"

// meshCA is a generate-mode CA with every kind of target and consumer: a
// trust bundle Secret and ConfigMap, a server leaf (gw-tls) and a client
// leaf (client-tls), a Hot consumer with a live mTLS probe and a Hot
// consumer by selector without one.
func meshCA(probeAddr string) *v1alpha1.CertificateAuthority {
	return &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{CommonName: "mesh-root", Algorithm: v1alpha1.KeyAlgorithmECDSAP256}},
			TrustBundles: []v1alpha1.TrustBundleTarget{
				{Kind: v1alpha1.TargetSecret, Name: "mesh-bundle"},
				{Kind: v1alpha1.TargetConfigMap, Name: "mesh-bundle", Key: "roots.pem"},
			},
			Certificates: []v1alpha1.CertificateSpec{
				{SecretName: "gw-tls", CommonName: "gw", DNSNames: []string{"gw.test"}, IPAddresses: []string{"127.0.0.1"}},
				{SecretName: "client-tls", CommonName: "client", URIs: []string{"spiffe://test/client"}, Usages: []v1alpha1.Usage{v1alpha1.UsageClient}},
			},
			Consumers: []v1alpha1.Consumer{
				{Name: "gw", Kind: "Deployment", WorkloadName: "gw", Reload: v1alpha1.ReloadHot,
					Probe: &v1alpha1.ConsumerProbe{Address: probeAddr, ServerName: "gw.test"}},
				{Name: "sidecars", Kind: "Deployment", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "sidecar"}},
					Reload: v1alpha1.ReloadHot, Wave: 1},
			},
			PropagationTimeout: v1alpha1.NewDuration(1500 * time.Millisecond),
			GracePeriod:        v1alpha1.NewDuration(time.Second),
		},
	}
}

func secretData(t *testing.T, c client.Client, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

func fingerprints(t *testing.T, pemBytes []byte) []string {
	t.Helper()
	certs, err := trust.ParseCertificates(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range certs {
		out = append(out, trust.Fingerprint(c))
	}
	return out
}

// checkPublished asserts every target holds bundle [active] and every leaf
// chains to active and holds no CA key.
func checkPublished(t *testing.T, e *env, active string) {
	t.Helper()
	if got := fingerprints(t, secretData(t, e.c, "mesh-bundle")["ca.crt"]); len(got) != 1 || got[0] != active {
		t.Fatalf("Secret mesh-bundle ca.crt = %v, want [%s]", got, active)
	}
	cm := &corev1.ConfigMap{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "mesh-bundle"}, cm); err != nil {
		t.Fatal(err)
	}
	if got := fingerprints(t, []byte(cm.Data["roots.pem"])); len(got) != 1 || got[0] != active {
		t.Fatalf("ConfigMap mesh-bundle roots.pem = %v, want [%s]", got, active)
	}
	copyKey := secretData(t, e.c, "mesh-handover-ca")["tls.key"]
	for _, name := range []string{"gw-tls", "client-tls"} {
		d := secretData(t, e.c, name)
		chain, err := trust.ParseCertificates(d["tls.crt"])
		if err != nil {
			t.Fatal(err)
		}
		if len(chain) < 2 || trust.Fingerprint(chain[1]) != active {
			t.Fatalf("%s tls.crt does not chain to the active CA %s", name, active)
		}
		if err := chain[0].CheckSignatureFrom(chain[1]); err != nil {
			t.Fatalf("%s leaf not signed by the active CA: %v", name, err)
		}
		if string(d["tls.key"]) == string(copyKey) {
			t.Fatalf("%s holds the CA key", name)
		}
		if got := fingerprints(t, d["ca.crt"]); len(got) != 1 || got[0] != active {
			t.Fatalf("%s ca.crt = %v, want [%s]", name, got, active)
		}
	}
	gw, _ := trust.ParseCertificates(secretData(t, e.c, "gw-tls")["tls.crt"])
	if len(gw[0].IPAddresses) != 1 || gw[0].DNSNames[0] != "gw.test" || gw[0].ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Fatalf("gw-tls leaf SANs/usages not from spec: %v %v %v", gw[0].DNSNames, gw[0].IPAddresses, gw[0].ExtKeyUsage)
	}
	cl, _ := trust.ParseCertificates(secretData(t, e.c, "client-tls")["tls.crt"])
	if len(cl[0].URIs) != 1 || len(cl[0].ExtKeyUsage) != 1 || cl[0].ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Fatalf("client-tls leaf URIs/usages not from spec: %v %v", cl[0].URIs, cl[0].ExtKeyUsage)
	}
}

// caEvents lists the events about CertificateAuthorities in ns, failing
// the test on one that carries key material.
func caEvents(t *testing.T, c client.Client) []eventsv1.Event {
	t.Helper()
	l := &eventsv1.EventList{}
	if err := c.List(context.Background(), l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range l.Items {
		if e.Regarding.Kind == "CertificateAuthority" {
			if strings.Contains(e.Note, "PRIVATE KEY") {
				t.Fatalf("event %s carries key material", e.Reason)
			}
			out = append(out, e)
		}
	}
	return out
}

func eventReasons(t *testing.T, c client.Client) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range caEvents(t, c) {
		out[e.Reason]++
	}
	return out
}

func TestGenerateManagedLifecycle(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.deployment(t, ns, "gw", map[string]string{"app": "gw"})
	e.deployment(t, ns, "sidecar-a", map[string]string{"tier": "sidecar"})
	gwMount := startMount(t, e.c, ns, "gw-tls", 300*time.Millisecond)
	clientMount := startMount(t, e.c, ns, "client-tls", 300*time.Millisecond)
	addr := serveMTLS(t, gwMount)
	e.startManager(t, nil, false)

	if err := e.c.Create(context.Background(), meshCA(addr)); err != nil {
		t.Fatal(err)
	}
	ca := e.waitFor(t, ns, "mesh", 60*time.Second, "first publish Ready", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil
	})
	first := ca.Status.Active.Fingerprint
	if ca.Status.Rotation != nil || ca.Status.BundleGeneration != 1 || ca.Status.ConsumersConverged != "2/2 consumers on generation 1" || ca.Status.Phase != "Idle" {
		t.Fatalf("after first publish: rotation %+v, generation %d, consumers %q, phase %q", ca.Status.Rotation, ca.Status.BundleGeneration, ca.Status.ConsumersConverged, ca.Status.Phase)
	}
	if !strings.Contains(ca.Status.Active.Subject, "mesh-root") {
		t.Fatalf("active subject %q", ca.Status.Active.Subject)
	}
	checkPublished(t, e, first)

	tr := startTraffic(t, addr, "gw.test", clientMount)
	tr.waitFlowing(t)

	// Manual rotation: staged, verified by live handshakes, no failure.
	e.annotate(t, ns, "mesh", certificateauthority.AnnotationRotate, "1")
	ca = e.waitFor(t, ns, "mesh", 60*time.Second, "manual rotation", rotatedFrom(first))
	second := ca.Status.Active.Fingerprint
	if r := ca.Status.Rotation; r.Trigger != certificateauthority.TriggerManual || r.Strategy != "staged" || len(r.Steps) != 7 {
		t.Fatalf("rotation %+v", r)
	}
	if len(ca.Status.Previous) != 1 || ca.Status.Previous[0].Fingerprint != first {
		t.Fatalf("previous %+v, want %s", ca.Status.Previous, first)
	}
	if ca.Status.BundleGeneration != 3 || ca.Status.ConsumersConverged != "2/2 consumers on generation 3" {
		t.Fatalf("generation %d, consumers %q (want 3: overlap, then new only)", ca.Status.BundleGeneration, ca.Status.ConsumersConverged)
	}
	checkPublished(t, e, second)

	// Revert with no rotation running: rotate back to the previous CA.
	e.annotate(t, ns, "mesh", certificateauthority.AnnotationRevert, "1")
	ca = e.waitFor(t, ns, "mesh", 60*time.Second, "revert", rotatedFrom(second))
	if ca.Status.Active.Fingerprint != first || ca.Status.Rotation.Trigger != certificateauthority.TriggerRevert {
		t.Fatalf("after revert active %s trigger %s, want %s Revert", ca.Status.Active.Fingerprint, ca.Status.Rotation.Trigger, first)
	}
	checkPublished(t, e, first)

	// Queued second rotation: a trigger during a running rotation waits.
	e.annotate(t, ns, "mesh", certificateauthority.AnnotationRotate, "2")
	e.waitFor(t, ns, "mesh", 30*time.Second, "rotation 2 running", func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.Rotation != nil && ca.Status.Rotation.Outcome == "" && ca.Status.Rotation.Target != first
	})
	e.annotate(t, ns, "mesh", certificateauthority.AnnotationRotate, "3")
	queued := e.waitFor(t, ns, "mesh", 30*time.Second, "queued", func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.Queued != "" || (ca.Status.Rotation != nil && ca.Status.Rotation.Outcome == "Succeeded")
	})
	if queued.Status.Queued != certificateauthority.TriggerManual+" 3" {
		t.Fatalf("status.queued = %q while rotation 2 runs, want %q", queued.Status.Queued, certificateauthority.TriggerManual+" 3")
	}
	target2 := queued.Status.Rotation.Target
	if !isTrue(queued, v1alpha1.ConditionRotating) {
		t.Fatalf("Rotating not True while a rotation runs")
	}
	ca = e.waitFor(t, ns, "mesh", 90*time.Second, "queued rotation done", func(ca *v1alpha1.CertificateAuthority) bool {
		return rotatedFrom(target2)(ca) && ca.Status.Queued == ""
	})
	third := ca.Status.Active.Fingerprint
	if third == first || third == target2 || ca.Status.Previous[0].Fingerprint != target2 {
		t.Fatalf("queued rotation went %s -> %s, previous %s; want from %s", first, third, ca.Status.Previous[0].Fingerprint, target2)
	}
	checkPublished(t, e, third)
	if _, failed, last := tr.snapshot(); failed != 0 {
		t.Fatalf("live traffic saw %d failed handshakes during Managed rotations (last: %v)", failed, last)
	}

	// Managed -> Legacy: converges without a rotation or a failure.
	e.update(t, ns, "mesh", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.Mode = v1alpha1.ModeLegacy })
	ca = e.waitFor(t, ns, "mesh", 30*time.Second, "Legacy", ready)
	if ca.Status.Active.Fingerprint != third || ca.Status.Rotation.Target != third {
		t.Fatalf("mode switch rotated: active %s", ca.Status.Active.Fingerprint)
	}
	checkPublished(t, e, third)
	time.Sleep(time.Second)
	if _, failed, last := tr.snapshot(); failed != 0 {
		t.Fatalf("mode switch to Legacy caused %d failed handshakes (last: %v)", failed, last)
	}
	// In Legacy a rotation is the old atomic replace.
	e.annotate(t, ns, "mesh", certificateauthority.AnnotationRotate, "4")
	ca = e.waitFor(t, ns, "mesh", 60*time.Second, "Legacy rotation", rotatedFrom(third))
	fourth := ca.Status.Active.Fingerprint
	if ca.Status.Rotation.Strategy != "atomic" {
		t.Fatalf("Legacy rotation strategy %q, want atomic", ca.Status.Rotation.Strategy)
	}
	checkPublished(t, e, fourth)
	// Let the client and server mounts settle on the new material.
	time.Sleep(2 * time.Second)
	_, base, _ := tr.snapshot()

	// Legacy -> Managed, then a staged rotation again with no failure.
	e.update(t, ns, "mesh", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.Mode = v1alpha1.ModeManaged })
	e.waitFor(t, ns, "mesh", 30*time.Second, "Managed", ready)
	e.annotate(t, ns, "mesh", certificateauthority.AnnotationRotate, "5")
	ca = e.waitFor(t, ns, "mesh", 60*time.Second, "Managed rotation", rotatedFrom(fourth))
	if ca.Status.Rotation.Strategy != "staged" {
		t.Fatalf("rotation after switching back to Managed: strategy %q, want staged", ca.Status.Rotation.Strategy)
	}
	checkPublished(t, e, ca.Status.Active.Fingerprint)
	if ok, failed, last := tr.snapshot(); failed != base {
		t.Fatalf("switch back to Managed and its rotation caused %d failed handshakes (of %d; last: %v)", failed-base, ok, last)
	}

	checkMetrics(t, "app/mesh", ca.Status.BundleGeneration)

	// Consumer inventory: a pod mounting a target that no consumer declares.
	stray := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: ns, Labels: map[string]string{"app": "stray"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "example.invalid/none",
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "mesh-bundle"}}}}}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gw-tls"}}}},
		},
	}
	declared := stray.DeepCopy()
	declared.Name, declared.Labels = "sidecar-a-1", map[string]string{"tier": "sidecar"}
	for _, p := range []*corev1.Pod{stray, declared} {
		if err := e.c.Create(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	ca = e.waitFor(t, ns, "mesh", 30*time.Second, "undeclared consumer reported", func(ca *v1alpha1.CertificateAuthority) bool {
		return len(ca.Status.UndeclaredConsumers) > 0
	})
	if u := ca.Status.UndeclaredConsumers; len(u) != 1 || u[0].Name != "stray" || u[0].Kind != "Pod" {
		t.Fatalf("undeclaredConsumers = %+v, want only Pod stray", u)
	}

	ok, failed, _ := tr.snapshot()
	t.Logf("live traffic: %d handshakes, %d failed (asserted 0 outside the Legacy atomic rotation)", ok, failed)
	reasons := eventReasons(t, e.c)
	for _, r := range []string{"Published", "RotationStarted", "PlanStarted", "StepStarted", "StepDone", "PlanEnded", "ModeSwitched", "UndeclaredConsumers"} {
		if reasons[r] == 0 {
			t.Errorf("no %s event (events: %v)", r, reasons)
		}
	}
	// Each step's events stay apart (the step is the action), so kubectl
	// describe shows every step instead of one merged "StepStarted (xN)".
	if got := stepsWithEvents(t, e.c, "StepStarted"); len(got) < 7 {
		t.Errorf("StepStarted events name %d distinct steps %v, want the 7 staged steps", len(got), got)
	}
}

// stepsWithEvents returns the distinct actions (step names) of the
// CertificateAuthority events with reason.
func stepsWithEvents(t *testing.T, c client.Client, reason string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, e := range caEvents(t, c) {
		if e.Reason == reason {
			out[e.Action] = true
		}
	}
	return out
}

// checkMetrics reads controller-runtime's registry, where Add registered
// the controller's series.
func checkMetrics(t *testing.T, ca string, gen int64) {
	t.Helper()
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["ca"] != ca {
				continue
			}
			switch mf.GetName() {
			case "handover_ca_expiry_seconds":
				if v := m.GetGauge().GetValue(); v <= 0 {
					t.Errorf("expiry of %s = %v, want > 0", l["which"], v)
				}
				found[mf.GetName()+"/"+l["which"]] = true
			case "handover_rotation_phase":
				if m.GetGauge().GetValue() == 1 && (l["phase"] == "Idle" || l["phase"] == "Succeeded") {
					found[mf.GetName()] = true
				}
			case "handover_consumers_converged":
				if l["generation"] == strconv.FormatInt(gen, 10) && m.GetGauge().GetValue() == 2 {
					found[mf.GetName()] = true
				}
			}
		}
	}
	for _, want := range []string{"handover_ca_expiry_seconds/active", "handover_ca_expiry_seconds/previous", "handover_rotation_phase", "handover_consumers_converged"} {
		if !found[want] {
			t.Errorf("metric %s{ca=%q} missing or wrong", want, ca)
		}
	}
}
