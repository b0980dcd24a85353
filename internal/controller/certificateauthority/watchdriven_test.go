package certificateauthority_test

import (
	"context"
	"testing"
	"time"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
)

// TestRotationStatusFollowsWatchesOnly runs a staged rotation with the
// default 5-minute resync, so every status update comes from a watch event
// or a worker notification: the rotation ends Ready with the final bundle
// generation and every consumer on it, and status.phase never goes back to
// an earlier step while the rotation runs (reconciles read the object from
// the cache only at a version no older than they read or wrote before).
func TestRotationStatusFollowsWatchesOnly(t *testing.T) {
	e := newEnv(t)
	e.defaultResync = true
	e.namespace(t, ns)
	e.deployment(t, ns, "app", map[string]string{"app": "app"})
	e.startManager(t, nil, false)
	ca := slowCA()
	ca.Spec.Certificates = nil
	ca.Spec.PropagationTimeout = v1alpha1.NewDuration(time.Second)
	if err := e.c.Create(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	got := e.waitFor(t, ns, "slow", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil
	})
	first := got.Status.Active.Fingerprint

	e.annotate(t, ns, "slow", certificateauthority.AnnotationRotate, "1")
	var phases []string
	done := rotatedFrom(first)
	deadline := time.Now().Add(90 * time.Second)
	for !done(got) {
		if time.Now().After(deadline) {
			t.Fatalf("rotation not done within 90s; status %+v; rotation %+v", got.Status, got.Status.Rotation)
		}
		time.Sleep(50 * time.Millisecond)
		got = e.get(t, ns, "slow")
		if n := len(phases); n == 0 || phases[n-1] != got.Status.Phase {
			phases = append(phases, got.Status.Phase)
		}
	}
	if got.Status.Phase != "Idle" || got.Status.BundleGeneration != 3 || got.Status.ConsumersConverged != "1/1 consumers on generation 3" || isTrue(got, v1alpha1.ConditionRotating) {
		t.Fatalf("after the rotation: phase %q, generation %d, consumers %q, conditions %+v", got.Status.Phase, got.Status.BundleGeneration, got.Status.ConsumersConverged, got.Status.Conditions)
	}
	order := map[string]int{}
	for i, s := range got.Status.Rotation.Steps {
		order[s.Name] = i + 1
	}
	last := 0
	for _, p := range phases {
		if i := order[p]; i != 0 {
			if i < last {
				t.Fatalf("status.phase went back to step %q: %v", p, phases)
			}
			last = i
		}
	}
	t.Logf("status.phase seen: %v", phases)
}
