package certificateauthority_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// defaultsCase is one CertificateAuthority of TestRotationAtAPIDefaults.
type defaultsCase struct {
	name  string
	mode  v1alpha1.Mode
	probe bool
	// propagation and grace are hand-set only for the sandbox reproduction
	// of issue 10; nil keeps the apiserver's defaults.
	propagation, grace *v1alpha1.Duration
	// waits are the staged steps that wait (propagation or grace); the
	// controller is restarted in the middle of each.
	waits []string
}

// TestRotationAtAPIDefaults builds CertificateAuthorities with no durations
// set, lets the real apiserver default them (90s propagation, 1h grace, 1y
// CA, 720h renewBefore, 8760h leaves), and rotates each to Succeeded on a
// fake clock: Managed (staged) and Legacy (atomic), a Hot consumer with and
// without a live mTLS probe. In the middle of every wait the controller is
// stopped, the fake clock moves on while it is down, and a new controller
// resumes: the wait must end at the first publish + its duration (the
// persisted appliedAt), not a full duration after the restart. The last
// case is the sandbox reproduction of issue 10 (propagation 1s, grace 150s,
// one Hot consumer without a probe): it ended Failed at ~124 s when the
// grace period was slept inside a step whose timeout was 4×1s + 2 min.
func TestRotationAtAPIDefaults(t *testing.T) {
	e := newEnv(t)
	staged := []string{rotation.StepAddCA, rotation.StepSwitchLeaves, rotation.StepGracePeriod, rotation.StepDropPrevious}
	for _, tc := range []defaultsCase{
		{name: "managed", mode: v1alpha1.ModeManaged, waits: staged},
		{name: "managed-probe", mode: v1alpha1.ModeManaged, probe: true, waits: staged},
		{name: "legacy", mode: v1alpha1.ModeLegacy},
		{name: "legacy-probe", mode: v1alpha1.ModeLegacy, probe: true},
		{name: "sandbox-issue-10", mode: v1alpha1.ModeManaged, waits: []string{rotation.StepGracePeriod},
			propagation: v1alpha1.NewDuration(time.Second), grace: v1alpha1.NewDuration(150 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) { runAtDefaults(t, e, tc) })
	}
}

// fakeDriver advances a fake clock by step on every poll of the object, so
// fake time runs a few hundred times faster than wall time while the
// controller works in real time against the apiserver.
type fakeDriver struct {
	t    *testing.T
	e    *env
	fc   *clocktesting.FakeClock
	step time.Duration
	ns   string
	name string
}

// until advances the clock until cond holds, failing after wall timeout.
func (d *fakeDriver) until(what string, wall time.Duration, cond func(*v1alpha1.CertificateAuthority) bool) *v1alpha1.CertificateAuthority {
	d.t.Helper()
	deadline := time.Now().Add(wall)
	var last *v1alpha1.CertificateAuthority
	for time.Now().Before(deadline) {
		last = d.e.get(d.t, d.ns, d.name)
		if cond(last) {
			return last
		}
		d.fc.Step(d.step)
		time.Sleep(2 * time.Millisecond)
	}
	d.t.Fatalf("%s/%s: %s not reached within %s of wall time (fake now %s); status %+v; rotation %+v",
		d.ns, d.name, what, wall, d.fc.Now().UTC().Format(time.RFC3339), last.Status, last.Status.Rotation)
	return nil
}

// resumed waits in wall time, without moving the clock, until a plan
// runner waits on it again (its step timer and poll): the restarted
// controller is back in the interrupted step.
func (d *fakeDriver) resumed() {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for d.fc.Waiters() < 2 {
		if time.Now().After(deadline) {
			d.t.Fatal("the restarted controller did not resume the plan within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stepStatus(ca *v1alpha1.CertificateAuthority, name string) *v1alpha1.StepStatus {
	if ca.Status.Rotation == nil {
		return nil
	}
	for i := range ca.Status.Rotation.Steps {
		if ca.Status.Rotation.Steps[i].Name == name {
			return &ca.Status.Rotation.Steps[i]
		}
	}
	return nil
}

func runAtDefaults(t *testing.T, e *env, tc defaultsCase) {
	nsName := "defaults-" + tc.name
	e.namespace(t, nsName)
	e.deployment(t, nsName, "app", map[string]string{"app": "app"})
	consumer := v1alpha1.Consumer{Name: "app", Kind: "Deployment", WorkloadName: "app", Reload: v1alpha1.ReloadHot}
	if tc.probe {
		m := startMount(t, e.c, nsName, "app-tls", 0)
		consumer.Probe = &v1alpha1.ConsumerProbe{Address: serveMTLS(t, m), ServerName: "app.test"}
	}
	obj := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: nsName},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Mode:               tc.mode,
			Source:             v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles:       []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "app-bundle"}},
			Certificates:       []v1alpha1.CertificateSpec{{SecretName: "app-tls", DNSNames: []string{"app.test"}}},
			Consumers:          []v1alpha1.Consumer{consumer},
			PropagationTimeout: tc.propagation,
			GracePeriod:        tc.grace,
		},
	}
	if err := e.c.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	// The apiserver's defaults, read back: nothing below is hand-set.
	got := e.get(t, nsName, "ca")
	prop, grace := got.Spec.PropagationTimeout.Duration, got.Spec.GracePeriod.Duration
	g := got.Spec.Source.Generate
	if tc.propagation == nil && (prop != 90*time.Second || grace != time.Hour) {
		t.Fatalf("defaulted propagationTimeout %s, gracePeriod %s; want 90s and 1h", prop, grace)
	}
	if g.Duration.Duration != 8760*time.Hour || g.RenewBefore.Duration != 720*time.Hour || got.Spec.Certificates[0].Duration.Duration != 8760*time.Hour {
		t.Fatalf("defaulted CA duration %s, renewBefore %s, leaf duration %s; want 8760h, 720h, 8760h",
			g.Duration.Duration, g.RenewBefore.Duration, got.Spec.Certificates[0].Duration.Duration)
	}

	// The fake clock starts 3h in the past: certificates issued on it are
	// valid for the real-time TLS verification of the probes.
	fc := clocktesting.NewFakeClock(time.Now().Add(-3 * time.Hour).Truncate(time.Second))
	d := &fakeDriver{t: t, e: e, fc: fc, step: time.Second, ns: nsName, name: "ca"}
	stop := e.startManagerWith(t, nil, false, fc)
	first := d.until("first publish Ready", 60*time.Second, func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil
	}).Status.Active.Fingerprint

	e.annotate(t, nsName, "ca", certificateauthority.AnnotationRotate, "1")
	for _, name := range tc.waits {
		wait := prop
		if name == rotation.StepGracePeriod {
			wait = grace
		}
		// Mid-wait: the step's appliedAt is persisted and half the wait passed.
		mid := d.until(name+" half way", 120*time.Second, func(ca *v1alpha1.CertificateAuthority) bool {
			s := stepStatus(ca, name)
			return s != nil && s.Phase == "Applying" && s.AppliedAt != nil && !fc.Now().Before(s.AppliedAt.Add(wait/2))
		})
		applied := stepStatus(mid, name).AppliedAt.Time
		stop()
		// While no controller runs, the clock moves on by a quarter of the
		// wait: a resumed wait ends at appliedAt + wait; a restarted one
		// would end at least 3/4 of the wait later.
		fc.Step(wait / 4)
		stop = e.startManagerWith(t, nil, false, fc)
		d.resumed()
		done := d.until(name+" done after the restart", 120*time.Second, func(ca *v1alpha1.CertificateAuthority) bool {
			s := stepStatus(ca, name)
			return s != nil && s.Phase == "Done"
		})
		s := stepStatus(done, name)
		if s.AppliedAt == nil || !s.AppliedAt.Time.Equal(applied) {
			t.Fatalf("%s: appliedAt %v after the restart, want the persisted %s", name, s.AppliedAt, applied)
		}
		if late := s.UpdatedAt.Sub(applied) - wait; late >= wait/2 {
			t.Fatalf("%s: done %s after its appliedAt, %s late: the restart began the %s wait again", name, s.UpdatedAt.Sub(applied), late, wait)
		}
	}
	ca := d.until("rotation Succeeded", 240*time.Second, rotatedFrom(first))
	r := ca.Status.Rotation
	want := rotation.StrategyStaged
	if tc.mode == v1alpha1.ModeLegacy {
		want = rotation.StrategyAtomic
	}
	if r.Strategy != string(want) {
		t.Fatalf("strategy %q, want %q", r.Strategy, want)
	}
	bundle := &corev1.Secret{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: nsName, Name: "app-bundle"}, bundle); err != nil {
		t.Fatal(err)
	}
	certs, err := trust.ParseCertificates(bundle.Data["ca.crt"])
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || trust.Fingerprint(certs[0]) != ca.Status.Active.Fingerprint {
		t.Fatalf("bundle after the rotation holds %d CA(s), want only the new one %s", len(certs), ca.Status.Active.Fingerprint)
	}
	// Nothing re-issues a leaf but a rotation, and at the defaults the next
	// one is the renewal at notAfter - renewBefore: the leaves must stay
	// valid until then.
	leafSecret := &corev1.Secret{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: nsName, Name: "app-tls"}, leafSecret); err != nil {
		t.Fatal(err)
	}
	leaf, err := trust.ParseCertificates(leafSecret.Data["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	renewAt := ca.Status.Active.NotAfter.Add(-g.RenewBefore.Duration)
	if leaf[0].NotAfter.Before(renewAt) {
		t.Fatalf("the leaf expires %s, before the CA's renewal at %s re-issues it: consumers would serve an expired leaf for %s",
			leaf[0].NotAfter.UTC().Format(time.RFC3339), renewAt.UTC().Format(time.RFC3339), renewAt.Sub(leaf[0].NotAfter).Round(time.Hour))
	}
	if tc.propagation == nil && tc.mode == v1alpha1.ModeLegacy && !tc.probe {
		// The renewal at the defaults: move the clock to notAfter -
		// renewBefore; a Renewal rotation replaces the CA and the leaves
		// (without a probe: certificates issued 11 months ahead of the
		// real clock would fail a real-time TLS verification).
		fc.SetTime(renewAt.Add(time.Minute))
		renewed := d.until("renewal rotation Succeeded", 240*time.Second, rotatedFrom(ca.Status.Active.Fingerprint))
		if renewed.Status.Rotation.Trigger != certificateauthority.TriggerRenewal {
			t.Fatalf("trigger %q after renewBefore, want %s", renewed.Status.Rotation.Trigger, certificateauthority.TriggerRenewal)
		}
	}
	stop()
	fmt.Fprintf(testWriter{t}, "%s: %s rotation Succeeded, fake time %s", tc.name, r.Strategy, fc.Now().UTC().Format(time.RFC3339))
}
