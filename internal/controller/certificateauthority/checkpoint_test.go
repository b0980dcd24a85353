package certificateauthority

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/internal/plan"
)

func TestStatusStateRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	cp := &StatusCheckpoint{Target: "B", Trigger: TriggerManual, Strategy: "staged", StartedAt: metav1.NewTime(at)}
	st := &plan.State{Plan: "rotate-trust-staged", Steps: []plan.StepState{
		{Name: "a", Phase: plan.StepDone, UpdatedAt: at, AppliedAt: at.Add(-1500 * time.Microsecond)},
		{Name: "b", Phase: plan.StepReverting, Reason: "gate", UpdatedAt: at},
	}, RollingBack: true, RollbackReason: "gate failed", Reason: "gate failed"}
	rs := cp.StatusFromState(st)
	if rs.Phase != "b" || rs.Target != "B" || rs.Strategy != "staged" {
		t.Fatalf("status %+v", rs)
	}
	back := StateFromStatus(rs)
	a, _ := json.Marshal(st)
	b, _ := json.Marshal(back)
	if string(a) != string(b) {
		t.Fatalf("round trip\n got %s\nwant %s", b, a)
	}
	st.Outcome = plan.OutcomeRolledBack
	if PhaseOf(st) != "RolledBack" {
		t.Fatalf("PhaseOf ended = %s", PhaseOf(st))
	}
}

func TestRotationPatchNullsEmptyFields(t *testing.T) {
	t.Parallel()
	cp := &StatusCheckpoint{Target: "B", StartedAt: metav1.Now()}
	raw, err := rotationPatch("42", cp.StatusFromState(&plan.State{Plan: "p", Steps: []plan.StepState{{Name: "a", Phase: plan.StepPending}}}))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Metadata map[string]any            `json:"metadata"`
		Status   map[string]map[string]any `json:"status"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Metadata["resourceVersion"] != "42" {
		t.Fatalf("resourceVersion missing: %s", raw)
	}
	for _, k := range []string{"outcome", "reason", "rollingBack", "rollbackReason"} {
		v, ok := m.Status["rotation"][k]
		if !ok || v != nil {
			t.Fatalf("%s = %v (present %v), want explicit null: %s", k, v, ok, raw)
		}
	}
}

func TestPhaseOf(t *testing.T) {
	t.Parallel()
	steps := func(phases ...plan.StepPhase) []plan.StepState {
		out := make([]plan.StepState, len(phases))
		for i, p := range phases {
			out[i] = plan.StepState{Name: string(rune('a' + i)), Phase: p}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		st   plan.State
		want string
	}{
		{"not started", plan.State{Steps: steps(plan.StepPending, plan.StepPending)}, "Pending"},
		{"applying", plan.State{Steps: steps(plan.StepDone, plan.StepApplying)}, "b"},
		{"between two steps: the next one", plan.State{Steps: steps(plan.StepDone, plan.StepPending, plan.StepPending)}, "b"},
		{"reverting", plan.State{RollingBack: true, Steps: steps(plan.StepReverting, plan.StepPending)}, "a"},
		{"ended", plan.State{Outcome: plan.OutcomeSucceeded, Steps: steps(plan.StepDone, plan.StepDone)}, "Succeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := PhaseOf(&tc.st); got != tc.want {
				t.Fatalf("PhaseOf = %q, want %q", got, tc.want)
			}
		})
	}
}
