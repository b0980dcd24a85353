package plan

import "fmt"

// Validate reports whether p can run: p is non-nil and named, every step is
// non-nil with a non-empty name unique within the plan, PointOfNoReturn is in
// [0, len(Steps)], and StepTimeout and PollInterval are not negative. A plan
// without steps is valid (it succeeds at once). The error wraps ErrInvalidPlan
// and names the plan and the field at fault; nil when p is valid.
func Validate(p *Plan) error {
	if p == nil {
		return fmt.Errorf("%w: plan is nil", ErrInvalidPlan)
	}
	if p.Name == "" {
		return fmt.Errorf("%w: plan.Name is empty", ErrInvalidPlan)
	}
	seen := make(map[string]int, len(p.Steps))
	for i, s := range p.Steps {
		if s == nil {
			return fmt.Errorf("%w: plan %q: Steps[%d] is nil", ErrInvalidPlan, p.Name, i)
		}
		name := s.Name()
		if name == "" {
			return fmt.Errorf("%w: plan %q: Steps[%d].Name() is empty", ErrInvalidPlan, p.Name, i)
		}
		if j, dup := seen[name]; dup {
			return fmt.Errorf("%w: plan %q: Steps[%d] and Steps[%d] are both named %q",
				ErrInvalidPlan, p.Name, j, i, name)
		}
		seen[name] = i
	}
	if p.PointOfNoReturn < 0 || p.PointOfNoReturn > len(p.Steps) {
		return fmt.Errorf("%w: plan %q: PointOfNoReturn %d is outside [0, %d]",
			ErrInvalidPlan, p.Name, p.PointOfNoReturn, len(p.Steps))
	}
	if p.StepTimeout < 0 {
		return fmt.Errorf("%w: plan %q: StepTimeout %s is negative", ErrInvalidPlan, p.Name, p.StepTimeout)
	}
	if p.PollInterval < 0 {
		return fmt.Errorf("%w: plan %q: PollInterval %s is negative", ErrInvalidPlan, p.Name, p.PollInterval)
	}
	return nil
}

// matchState checks that s was written for p: same plan name, same step
// names in the same order, and only values a runner writes. It returns an
// error wrapping ErrCheckpointMismatch (naming the first difference) or
// ErrCorruptCheckpoint, or nil.
func matchState(p *Plan, s *State) error {
	if s.Plan != p.Name {
		return fmt.Errorf("%w: checkpoint is for plan %q, not %q", ErrCheckpointMismatch, s.Plan, p.Name)
	}
	n := max(len(s.Steps), len(p.Steps))
	for i := range n {
		switch {
		case i >= len(s.Steps):
			return fmt.Errorf("%w: plan %q: step %d: checkpoint has no step, plan has %q",
				ErrCheckpointMismatch, p.Name, i+1, p.Steps[i].Name())
		case i >= len(p.Steps):
			return fmt.Errorf("%w: plan %q: step %d: checkpoint has %q, plan has no step",
				ErrCheckpointMismatch, p.Name, i+1, s.Steps[i].Name)
		case s.Steps[i].Name != p.Steps[i].Name():
			return fmt.Errorf("%w: plan %q: step %d: checkpoint has %q, plan has %q",
				ErrCheckpointMismatch, p.Name, i+1, s.Steps[i].Name, p.Steps[i].Name())
		}
	}
	switch s.Outcome {
	case OutcomeRunning, OutcomeSucceeded, OutcomeRolledBack, OutcomeFailed:
	default:
		return fmt.Errorf("%w: plan %q: outcome %q is unknown", ErrCorruptCheckpoint, p.Name, s.Outcome)
	}
	for i, st := range s.Steps {
		switch st.Phase {
		case StepPending, StepApplying, StepDone:
		case StepReverting, StepReverted:
			if !s.RollingBack {
				return fmt.Errorf("%w: plan %q: step %q is %s but the plan is not rolling back",
					ErrCorruptCheckpoint, p.Name, st.Name, st.Phase)
			}
		default:
			return fmt.Errorf("%w: plan %q: steps[%d] (%q) phase %q is unknown",
				ErrCorruptCheckpoint, p.Name, i, st.Name, st.Phase)
		}
	}
	return nil
}
