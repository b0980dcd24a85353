package certificateauthority

import (
	"testing"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/rotation"
)

func staged(switchPhase plan.StepPhase) []v1alpha1.StepStatus {
	return []v1alpha1.StepStatus{
		{Name: rotation.StepAddCA, Phase: "Done"},
		{Name: rotation.StepTrustNewCA, Phase: "Applying"},
		{Name: rotation.StepSwitchLeaves, Phase: string(switchPhase)},
		{Name: rotation.StepDropPrevious, Phase: "Pending"},
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	steady := Observed{Mode: v1alpha1.ModeManaged, ActiveFP: "B", PreviousFP: "A", PublishedFP: "B", PublishedMode: v1alpha1.ModeManaged}
	gen := steady
	gen.Generate = true
	ref := steady
	ref.SourceFP, ref.SourceSeenFP = "B", "B"
	open := &v1alpha1.RotationStatus{Target: "B", Steps: staged(plan.StepPending)}
	late := &v1alpha1.RotationStatus{Target: "B", Steps: staged(plan.StepApplying)}
	with := func(o Observed, f func(*Observed)) Observed { f(&o); return o }
	tests := []struct {
		name string
		in   Observed
		want Decision
	}{
		{"no CA yet", Observed{Generate: true}, Decision{Action: ActionFirstPublish}},
		{"copy but never published", with(gen, func(o *Observed) { o.PublishedFP = "" }), Decision{Action: ActionFirstPublish}},
		{"steady generate", gen, Decision{Action: ActionNone}},
		{"steady secretRef", ref, Decision{Action: ActionNone}},
		{"renewal due", with(gen, func(o *Observed) { o.RenewalDue = true }), Decision{Action: ActionRotate, Trigger: TriggerRenewal}},
		{"root changed", with(ref, func(o *Observed) { o.SourceFP = "C" }), Decision{Action: ActionRotate, Trigger: TriggerSourceChanged}},
		{"root back to active", with(ref, func(o *Observed) { o.SourceSeenFP = "C" }), Decision{Action: ActionAdoptSource}},
		{"manual generate", with(gen, func(o *Observed) { o.RotateToken = "1" }), Decision{Action: ActionRotate, Trigger: TriggerManual}},
		{"manual handled", with(gen, func(o *Observed) { o.RotateToken, o.RotateHandled = "1", "1" }), Decision{Action: ActionNone}},
		{"manual secretRef republishes", with(ref, func(o *Observed) { o.RotateToken = "1" }), Decision{Action: ActionRepublish, Trigger: TriggerManual}},
		{"revert idle", with(gen, func(o *Observed) { o.RevertToken = "r" }), Decision{Action: ActionRevert, Trigger: TriggerRevert}},
		{"revert without previous", with(gen, func(o *Observed) { o.RevertToken, o.PreviousFP = "r", "" }), Decision{Action: ActionRevertNothing}},
		{"revert beats root change", with(ref, func(o *Observed) { o.RevertToken, o.SourceFP = "r", "C" }), Decision{Action: ActionRevert, Trigger: TriggerRevert}},
		{"reverted secretRef does not follow the old root", with(ref, func(o *Observed) { o.ActiveFP, o.PreviousFP, o.PublishedFP = "A", "B", "A" }), Decision{Action: ActionNone}},
		{"mode switch", with(gen, func(o *Observed) { o.Mode = v1alpha1.ModeLegacy }), Decision{Action: ActionModeSwitch}},
		{"adopted but never begun", with(gen, func(o *Observed) { o.PublishedFP = "A" }), Decision{Action: ActionBegin}},
		{"running", with(gen, func(o *Observed) { o.PublishedFP, o.Rotation, o.WorkerRunning = "A", open, true }), Decision{Action: ActionNone}},
		{"resume after restart", with(gen, func(o *Observed) { o.PublishedFP, o.Rotation = "A", open }), Decision{Action: ActionResume}},
		{"queued root change", with(ref, func(o *Observed) { o.PublishedFP, o.Rotation, o.WorkerRunning, o.SourceFP = "A", open, true, "C" }),
			Decision{Action: ActionNone, Queued: "C"}},
		{"queued while resuming", with(gen, func(o *Observed) { o.PublishedFP, o.Rotation, o.RotateToken = "A", open, "2" }),
			Decision{Action: ActionResume, Queued: TriggerManual + " 2"}},
		{"revert aborts before point of no return", with(gen, func(o *Observed) { o.PublishedFP, o.Rotation, o.WorkerRunning, o.RevertToken = "A", open, true, "r" }),
			Decision{Action: ActionAbort}},
		{"revert after point of no return is queued", with(gen, func(o *Observed) { o.PublishedFP, o.Rotation, o.WorkerRunning, o.RevertToken = "A", late, true, "r" }),
			Decision{Action: ActionNone, Queued: pending(Observed{RevertToken: "r"})}},
		{"failed rotation waits for a human", with(gen, func(o *Observed) {
			o.PublishedFP, o.Rotation = "A", &v1alpha1.RotationStatus{Target: "B", Outcome: "Failed"}
		}), Decision{Action: ActionNone}},
		{"failed rotation retried by rotate", with(gen, func(o *Observed) {
			o.PublishedFP, o.Rotation, o.RotateToken = "A", &v1alpha1.RotationStatus{Target: "B", Outcome: "Failed"}, "again"
		}), Decision{Action: ActionBegin, Trigger: TriggerManual}},
		{"failed rotation reverted", with(gen, func(o *Observed) {
			o.PublishedFP, o.Rotation, o.RevertToken = "A", &v1alpha1.RotationStatus{Target: "B", Outcome: "Failed"}, "r"
		}), Decision{Action: ActionRevert, Trigger: TriggerRevert}},
		{"ended, worker still recording", with(gen, func(o *Observed) {
			o.PublishedFP, o.Rotation, o.WorkerRunning, o.RotateToken = "A", &v1alpha1.RotationStatus{Target: "B", Outcome: "Succeeded"}, true, "2"
		}), Decision{Action: ActionNone, Queued: TriggerManual + " 2"}},
		{"succeeded but not recorded", with(gen, func(o *Observed) {
			o.PublishedFP, o.Rotation = "A", &v1alpha1.RotationStatus{Target: "B", Outcome: "Succeeded"}
		}), Decision{Action: ActionFinish}},
		{"rolled back but not recorded", with(gen, func(o *Observed) {
			o.PublishedFP, o.Rotation = "A", &v1alpha1.RotationStatus{Target: "B", Outcome: "RolledBack"}
		}), Decision{Action: ActionFinish}},
		{"revert during its rollback is not queued", with(gen, func(o *Observed) {
			o.PublishedFP, o.WorkerRunning, o.RevertToken = "A", true, "r"
			o.Rotation = &v1alpha1.RotationStatus{Target: "B", Steps: staged(plan.StepPending), RollingBack: true}
		}), Decision{Action: ActionNone}},
		{"ended rotation of another target is history", with(gen, func(o *Observed) {
			o.Rotation = &v1alpha1.RotationStatus{Target: "A", Outcome: "Succeeded"}
		}), Decision{Action: ActionNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Decide(tt.in); got != tt.want {
				t.Fatalf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAbortable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rot  *v1alpha1.RotationStatus
		want bool
	}{
		{"nil", nil, false},
		{"begun, no steps", &v1alpha1.RotationStatus{Strategy: "staged"}, true},
		{"atomic, no steps", &v1alpha1.RotationStatus{Strategy: "atomic"}, false},
		{"before point of no return", &v1alpha1.RotationStatus{Steps: staged(plan.StepPending)}, true},
		{"at point of no return", &v1alpha1.RotationStatus{Steps: staged(plan.StepApplying)}, false},
		{"rolling back", &v1alpha1.RotationStatus{Steps: staged(plan.StepPending), RollingBack: true}, false},
		{"ended", &v1alpha1.RotationStatus{Steps: staged(plan.StepPending), Outcome: "RolledBack"}, false},
		{"atomic steps", &v1alpha1.RotationStatus{Steps: []v1alpha1.StepStatus{{Name: "replace-ca-and-leaves", Phase: "Pending"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Abortable(tt.rot); got != tt.want {
				t.Fatalf("Abortable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStrategy(t *testing.T) {
	t.Parallel()
	M, L := v1alpha1.ModeManaged, v1alpha1.ModeLegacy
	tests := []struct {
		mode, published v1alpha1.Mode
		consumers       int
		want            rotation.Strategy
	}{
		{M, M, 2, rotation.StrategyStaged},
		{L, L, 2, rotation.StrategyAtomic},
		{L, M, 2, rotation.StrategyStaged}, // the switch itself is make-before-break
		{M, L, 2, rotation.StrategyStaged},
		{M, M, 0, rotation.StrategyAtomic},
	}
	for _, tt := range tests {
		if got := Strategy(tt.mode, tt.published, tt.consumers); got != tt.want {
			t.Errorf("Strategy(%s, %s, %d) = %s, want %s", tt.mode, tt.published, tt.consumers, got, tt.want)
		}
	}
}
