package certificateauthority_test

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/plan"
)

// TestStatusCheckpointAgainstAPIServer: a Save of the rotation that owns
// status.rotation is one patch without a read; a Save never overwrites
// another rotation's status.rotation (ErrSuperseded, nothing written), also
// when that rotation replaced ours after our last write; a Save where there
// is no status.rotation writes it; Save keeps the status fields Reconcile
// writes.
func TestStatusCheckpointAgainstAPIServer(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	ctx := context.Background()
	if err := e.c.Create(ctx, slowCA()); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: ns, Name: "slow"}
	at := metav1.NewTime(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	reader := &certificateauthority.CountingReader{Reader: e.c}
	var wrote string
	mine := &certificateauthority.StatusCheckpoint{Client: e.c, Reader: reader, Key: key, Target: "mine", Trigger: "manual", Strategy: "staged", StartedAt: at,
		Wrote: func(rv string) { wrote = rv }}
	// Wrote reports the resourceVersion of the object as written.
	checkWrote := func(what string) {
		t.Helper()
		if rv := e.get(t, ns, "slow").ResourceVersion; wrote != rv {
			t.Errorf("%s: Wrote(%q), want the object's resourceVersion %q", what, wrote, rv)
		}
		wrote = ""
	}
	other := &certificateauthority.StatusCheckpoint{Client: e.c, Reader: reader, Key: key, Target: "other", Trigger: "manual", Strategy: "staged", StartedAt: at}
	state := func(reason string) *plan.State {
		return &plan.State{Plan: "rotate-trust-staged", Steps: []plan.StepState{{Name: "a", Phase: plan.StepApplying, Reason: reason, UpdatedAt: at.Time}}}
	}
	rotation := func() *v1alpha1.RotationStatus { return e.get(t, ns, "slow").Status.Rotation }

	// No status.rotation yet: Save writes it.
	if err := mine.Save(ctx, state("first")); err != nil {
		t.Fatalf("save without status.rotation: %v", err)
	}
	if r := rotation(); r == nil || r.Target != "mine" || r.Steps[0].Reason != "first" {
		t.Fatalf("status.rotation after the first save: %+v", r)
	}
	checkWrote("save without status.rotation")

	// Another writer's status fields stay; an owned Save reads nothing.
	ca := e.get(t, ns, "slow")
	ca.Status.ConsumersConverged = "kept"
	if err := e.c.Status().Update(ctx, ca); err != nil {
		t.Fatal(err)
	}
	before := reader.Gets.Load()
	if err := mine.Save(ctx, state("second")); err != nil {
		t.Fatalf("owned save: %v", err)
	}
	if n := reader.Gets.Load() - before; n != 0 {
		t.Errorf("an owned save read the object %d time(s), want 0", n)
	}
	checkWrote("owned save")
	got := e.get(t, ns, "slow")
	if r := got.Status.Rotation; r.Target != "mine" || r.Steps[0].Reason != "second" || r.Outcome != "" {
		t.Fatalf("status.rotation after the owned save: %+v", r)
	}
	if got.Status.ConsumersConverged != "kept" {
		t.Fatalf("the save clobbered status.consumersConverged: %q", got.Status.ConsumersConverged)
	}
	// The replace leaves no field of the previous value behind.
	ended := state("")
	ended.Outcome = plan.OutcomeFailed
	ended.Reason = "boom"
	if err := mine.Save(ctx, ended); err != nil {
		t.Fatal(err)
	}
	if r := rotation(); r.Outcome != "Failed" || r.Reason != "boom" || r.Steps[0].Reason != "" {
		t.Fatalf("status.rotation after saving an ended state: %+v", r)
	}
	checkWrote("save of an ended state")

	// Another rotation replaces ours (Begin is unconditional): our next
	// Save is superseded and writes nothing.
	if err := other.Begin(ctx); err != nil {
		t.Fatalf("begin of another rotation: %v", err)
	}
	if r := rotation(); r.Target != "other" || r.Phase != "Pending" || len(r.Steps) != 0 || r.Outcome != "" {
		t.Fatalf("status.rotation after Begin: %+v", r)
	}
	if err := mine.Save(ctx, state("third")); !errors.Is(err, certificateauthority.ErrSuperseded) {
		t.Fatalf("save over another rotation: %v, want ErrSuperseded", err)
	}
	if wrote != "" {
		t.Errorf("a superseded save reported a write (%q)", wrote)
	}
	// Same target, another start: also another rotation.
	later := &certificateauthority.StatusCheckpoint{Client: e.c, Reader: reader, Key: key, Target: "other", Trigger: "manual", Strategy: "staged", StartedAt: metav1.NewTime(at.Add(time.Second))}
	if err := later.Save(ctx, state("later")); !errors.Is(err, certificateauthority.ErrSuperseded) {
		t.Fatalf("save of a rotation with another start: %v, want ErrSuperseded", err)
	}
	if r := rotation(); r.Target != "other" || !r.StartedAt.Equal(&at) || len(r.Steps) != 0 {
		t.Fatalf("a superseded save wrote status.rotation: %+v", r)
	}
	if err := other.Save(ctx, state("others")); err != nil {
		t.Fatalf("save of the owning rotation: %v", err)
	}
	if r := rotation(); r.Target != "other" || r.Steps[0].Reason != "others" {
		t.Fatalf("status.rotation after the owner's save: %+v", r)
	}
}
