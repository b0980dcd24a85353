package plan

import "errors"

var (
	// ErrInvalidPlan is returned by Runner.Run (wrapped with the object and
	// field at fault) when the plan is nil, unnamed, has a nil or unnamed step,
	// duplicate step names, a PointOfNoReturn outside [0, len(Steps)] or a
	// negative StepTimeout/PollInterval. Nothing is applied or saved.
	ErrInvalidPlan = errors.New("invalid plan")

	// ErrCheckpointMismatch is returned by Runner.Run when the loaded State
	// belongs to another plan: a different plan name or a different list of
	// step names. The error names the first difference. Nothing is applied.
	ErrCheckpointMismatch = errors.New("checkpoint does not match plan")

	// ErrCorruptCheckpoint is returned when a stored State cannot be decoded or
	// holds values no runner writes (unknown phase or outcome, a reverting
	// step outside a rollback). The error names the file or the field.
	ErrCorruptCheckpoint = errors.New("corrupt checkpoint")

	// ErrStepTimeout is the cause recorded when a step's Apply+Check (or its
	// Revert) did not complete within the step timeout.
	ErrStepTimeout = errors.New("step timed out")
)
