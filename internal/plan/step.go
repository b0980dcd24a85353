// Package plan is handover's transition engine: an ordered list of idempotent
// steps with an explicit point of no return, persisted progress and phase marks.
//
// The model follows controller-runtime's "reconcile state, not events": every
// call to Apply, Check or Revert re-derives the world's state, so a step may be
// called again after a crash at any instant.
package plan

import (
	"context"
	"time"
)

// CheckState is the verdict of a step's gate.
type CheckState string

const (
	// CheckDone means the step's effect is observed in the world.
	CheckDone CheckState = "Done"
	// CheckNotYet means the effect is not observed yet; the runner polls again.
	CheckNotYet CheckState = "NotYet"
	// CheckFailed means the effect cannot be reached; the runner stops polling.
	CheckFailed CheckState = "Failed"
)

// Result is what a gate (Step.Check) returns: a state and a human reason.
// Reason is required for NotYet and Failed and must never contain key material.
type Result struct {
	State  CheckState
	Reason string
}

// Done returns a Result that passes the gate.
func Done() Result { return Result{State: CheckDone} }

// NotYet returns a Result that asks the runner to poll again; reason says what
// is still missing (e.g. "learner applied index 812/1024").
func NotYet(reason string) Result { return Result{State: CheckNotYet, Reason: reason} }

// Failed returns a Result that fails the gate with reason.
func Failed(reason string) Result { return Result{State: CheckFailed, Reason: reason} }

// Step is one idempotent unit of a plan.
//
// Name must be deterministic and unique within its plan: it keys the checkpoint.
// Apply makes the change (calling it twice is the same as once). Check is the
// gate: it observes the world and says whether Apply's effect holds. Revert
// undoes Apply (and is a no-op when Apply never ran or was already reverted).
// A returned error from Apply or Revert is treated as transient and retried
// until the step's timeout; wrap it with Permanent to stop retrying.
type Step interface {
	Name() string
	Apply(ctx context.Context) error
	Check(ctx context.Context) Result
	Revert(ctx context.Context) error
}

// Timeouter is implemented by steps that need a deadline other than the
// plan's StepTimeout (e.g. etcd learner catch-up proportional to DB size).
type Timeouter interface {
	Timeout() time.Duration
}

// Describer is implemented by steps that can explain themselves for --plan /
// --dry-run output; the text must be stable (golden-file tested).
type Describer interface {
	Describe() string
}

// Plan is an ordered list of steps with an explicit point of no return.
//
// PointOfNoReturn is the index of the first step that cannot be reverted.
// Steps [0, PointOfNoReturn) are reverted in reverse order when a gate fails or
// a step times out; once step PointOfNoReturn has started the plan only goes
// forward. PointOfNoReturn == len(Steps) means every step is revertible;
// 0 means none is.
type Plan struct {
	// Name identifies the plan in checkpoints, events and reports.
	Name            string
	Steps           []Step
	PointOfNoReturn int
	// StepTimeout bounds Apply+Check of one step (default 5m when zero).
	StepTimeout time.Duration
	// PollInterval is the wait between two Checks that returned NotYet
	// (default 200ms when zero).
	PollInterval time.Duration
}
