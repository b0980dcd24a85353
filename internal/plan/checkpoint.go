package plan

import (
	"context"
	"time"
)

// StepPhase is where one step stands in a persisted plan run.
type StepPhase string

// Step phases, in the order a run moves through them.
const (
	StepPending   StepPhase = "Pending"
	StepApplying  StepPhase = "Applying"  // Apply may have run, in part or whole
	StepDone      StepPhase = "Done"      // gate passed
	StepReverting StepPhase = "Reverting" // Revert may have run, in part or whole
	StepReverted  StepPhase = "Reverted"
)

// Outcome is how a plan run ended ("" while it is still running).
type Outcome string

// Outcomes of a plan run.
const (
	OutcomeRunning    Outcome = ""
	OutcomeSucceeded  Outcome = "Succeeded"
	OutcomeRolledBack Outcome = "RolledBack" // a gate failed before the point of no return
	OutcomeFailed     Outcome = "Failed"     // a step could not complete after it
)

// StepState is the persisted progress of one step, keyed by Step.Name.
type StepState struct {
	Name      string    `json:"name"`
	Phase     StepPhase `json:"phase"`
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
	// AppliedAt is when the step's Apply first returned nil in this plan
	// run (the runner's clock); zero until then. A resumed run that applies
	// the step again keeps it, so a gate counting from it (Elapsed)
	// resumes the same wait instead of starting a new one.
	AppliedAt time.Time `json:"appliedAt,omitzero"`
}

// State is the persisted progress of one plan run. It is small, JSON-encodable
// and written after every state change, so a killed process resumes.
type State struct {
	Plan    string      `json:"plan"`
	Steps   []StepState `json:"steps"`
	Outcome Outcome     `json:"outcome,omitempty"`
	Reason  string      `json:"reason,omitempty"`
	// RollingBack is true once a failure before the point of no return has
	// started the reverse walk; a resumed run continues reverting.
	RollingBack bool `json:"rollingBack,omitempty"`
	// RollbackReason is the failure that started the rollback. It is kept
	// when a Revert fails (Outcome Failed, Reason = both failures) so that a
	// rerun retries the reverse walk and still ends RolledBack with it.
	RollbackReason string `json:"rollbackReason,omitempty"`
}

// DoneSteps is how many steps are StepDone; 0 for a nil State.
func (s *State) DoneSteps() int {
	if s == nil {
		return 0
	}
	n := 0
	for _, st := range s.Steps {
		if st.Phase == StepDone {
			n++
		}
	}
	return n
}

// Checkpoint stores a plan's State. Load returns (nil, nil) when nothing was
// saved yet. Save must be atomic: after a crash, Load returns either the old or
// the new State, never a torn one. Implementations: FileCheckpoint (CLI),
// CR status (operator).
type Checkpoint interface {
	Load(ctx context.Context) (*State, error)
	Save(ctx context.Context, s *State) error
}
