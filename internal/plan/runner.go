package plan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/utils/clock"
)

const (
	// DefaultStepTimeout bounds Apply+Check (or Revert) of one step when
	// neither Plan.StepTimeout nor the step's Timeouter sets one.
	DefaultStepTimeout = 5 * time.Minute
	// DefaultPollInterval is the wait between two NotYet gates when
	// Plan.PollInterval is zero.
	DefaultPollInterval = 200 * time.Millisecond
	// maxBackoffFactor caps the retry backoff of a failing Apply/Revert at
	// this multiple of the poll interval (the backoff starts at the poll
	// interval and doubles).
	maxBackoffFactor = 16
)

// Runner executes and resumes plans. The zero value runs with an in-memory
// checkpoint, no observers and the real clock.
type Runner struct {
	// Checkpoint stores progress after every state change; nil = in-memory
	// only (a fresh MemoryCheckpoint per Run, so nothing is resumed).
	Checkpoint Checkpoint
	// Observers receive phase marks synchronously, after the state change
	// they report was saved.
	Observers []Observer
	// Clock times step timeouts, polls and retry backoff and stamps events
	// and StepState.UpdatedAt; nil = clock.RealClock{}.
	Clock clock.Clock
	// RollbackOnCancel: when ctx is cancelled before the point of no return,
	// revert the applied steps (with a context detached from ctx, bounded by
	// the step timeout per step) and end RolledBack with reason "aborted".
	// The CLI sets it for Ctrl-C; the operator leaves it false (resume on
	// restart).
	RollbackOnCancel bool
}

// Run executes or resumes p.
//
// Order of work: Validate(p) (error wrapping ErrInvalidPlan; nothing applied
// or saved), Load the checkpoint, check that the loaded State belongs to p
// (ErrCheckpointMismatch naming the first difference, or
// ErrCorruptCheckpoint; the loaded State is returned with the error), then:
//   - a State whose Outcome is set is returned as is, with no events — except
//     Failed with RollingBack, a rollback whose Revert failed: Run retries
//     the reverse walk;
//   - RollingBack: continue reverting (Reverting steps are reverted again);
//   - otherwise every step not Done, in order: persist Applying, Apply
//     (retried with backoff until the step timeout unless the error is
//     Permanent), record AppliedAt (the first time only; persisted before
//     the first NotYet), poll Check every PollInterval until Done (each new
//     NotYet reason is persisted as the step's Reason), persist Done. Applying steps of a resumed
//     run are applied again and keep their AppliedAt (Check reads it with
//     AppliedAt(ctx)); Done steps are skipped.
//
// A Failed gate, a Permanent Apply error or a step timeout before the point
// of no return reverts the applied steps in reverse order and ends
// RolledBack (Reason = the failure); if a Revert fails the plan ends Failed
// with both reasons. At or after the point of no return the plan ends Failed
// with the reason. These outcomes return a nil error.
//
// Observers get EventPlanStarted (Reason "resumed" on a resumed run), then
// per step StepStarted, StepProgress (only when the NotYet reason changes),
// StepDone or StepFailed, and in a rollback StepReverting/StepReverted, and
// last PlanEnded with the Outcome; each after the state it reports was saved,
// stamped with the Runner's clock.
//
// Run returns the State so far and a non-nil error when it cannot go on:
// checkpoint load/save errors (wrapped), and ctx cancellation (wraps
// ctx.Err(); rerun to resume) unless RollbackOnCancel applies.
func (r *Runner) Run(ctx context.Context, p *Plan) (*State, error) {
	if err := Validate(p); err != nil {
		return nil, err
	}
	x := &run{
		p:        p,
		clk:      r.Clock,
		cp:       r.Checkpoint,
		obs:      r.Observers,
		onCancel: r.RollbackOnCancel,
	}
	if x.clk == nil {
		x.clk = clock.RealClock{}
	}
	if x.cp == nil {
		x.cp = &MemoryCheckpoint{}
	}
	st, err := x.cp.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan %q: load checkpoint: %w", p.Name, err)
	}
	resumed := st != nil
	if !resumed {
		st = x.newState()
	} else {
		if err := matchState(p, st); err != nil {
			return st, err
		}
		if st.Outcome != OutcomeRunning && (st.Outcome != OutcomeFailed || !st.RollingBack) {
			return st, nil
		}
	}
	x.st = st
	return x.run(ctx, resumed)
}

// run is the working state of one Runner.Run call.
type run struct {
	p        *Plan
	clk      clock.Clock
	cp       Checkpoint
	obs      []Observer
	onCancel bool
	st       *State
}

func (x *run) newState() *State {
	st := &State{Plan: x.p.Name, Steps: make([]StepState, len(x.p.Steps))}
	now := x.clk.Now()
	for i, s := range x.p.Steps {
		st.Steps[i] = StepState{Name: s.Name(), Phase: StepPending, UpdatedAt: now}
	}
	return st
}

func (x *run) run(ctx context.Context, resumed bool) (*State, error) {
	startReason := ""
	if resumed {
		startReason = "resumed"
	}
	if x.st.RollingBack {
		// A retried failed rollback runs again from its original failure.
		x.st.Outcome = OutcomeRunning
		if x.st.RollbackReason != "" {
			x.st.Reason = x.st.RollbackReason
		}
	}
	if err := x.save(ctx); err != nil {
		return x.st, err
	}
	x.emit(Event{Kind: EventPlanStarted, Index: -1, Reason: startReason})

	if x.st.RollingBack {
		return x.rollback(x.rollbackCtx(ctx), x.st.Reason)
	}
	for i := range x.p.Steps {
		if x.st.Steps[i].Phase == StepDone {
			continue
		}
		if ctx.Err() != nil {
			return x.cancelled(ctx, i, false)
		}
		failure, err := x.forward(ctx, i)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return x.cancelled(ctx, i, true)
			}
			return x.st, err
		}
		if failure != "" {
			return x.fail(ctx, i, failure)
		}
	}
	return x.end(ctx, OutcomeSucceeded, "")
}

// forward applies and gates step i. It returns a failure reason when the
// step failed (gate Failed, Permanent error, timeout), or an error when the
// run cannot go on (checkpoint save error, ctx.Err()).
func (x *run) forward(ctx context.Context, i int) (string, error) {
	step := x.p.Steps[i]
	x.setPhase(i, StepApplying, "")
	if err := x.save(ctx); err != nil {
		return "", err
	}
	x.emit(Event{Kind: EventStepStarted, Step: step.Name(), Index: i})

	timeout := x.timeout(step)
	sctx, stop := x.withTimeout(ctx, timeout)
	defer stop()
	actx := sctx
	if at := x.st.Steps[i].AppliedAt; !at.IsZero() {
		actx = withAppliedAt(sctx, at) // a resumed run re-applies a step that was applied
	}
	if failure, err := x.retry(ctx, actx, timeout, "apply", step.Apply); failure != "" || err != nil {
		return failure, err
	}
	// AppliedAt is saved before the first NotYet (a wait counts from it) or
	// with the Done, whichever comes first: no extra write when the gate
	// passes at once.
	unsaved := false
	if x.st.Steps[i].AppliedAt.IsZero() {
		x.st.Steps[i].AppliedAt = x.clk.Now()
		unsaved = true
	}
	cctx := withAppliedAt(sctx, x.st.Steps[i].AppliedAt)
	last := ""
	for {
		res := step.Check(cctx)
		if res.State == CheckDone {
			break
		}
		if failure, err := x.interrupted(ctx, sctx, timeout, last); failure != "" || err != nil {
			return failure, err
		}
		switch res.State {
		case CheckFailed:
			return joinReason("gate failed", res.Reason), nil
		case CheckNotYet:
			if res.Reason != last || unsaved {
				// The gate's current reason is part of the persisted
				// state (status.rotation in the operator), saved once per
				// change, before the event that reports it.
				x.st.Steps[i].Reason = res.Reason
				x.st.Steps[i].UpdatedAt = x.clk.Now()
				if err := x.save(ctx); err != nil {
					return "", err
				}
				unsaved = false
			}
			if res.Reason != last {
				last = res.Reason
				x.emit(Event{Kind: EventStepProgress, Step: step.Name(), Index: i, Reason: last})
			}
		default:
			return fmt.Sprintf("gate returned unknown state %q", res.State), nil
		}
		if !x.sleep(sctx, x.poll()) {
			return x.interrupted(ctx, sctx, timeout, last)
		}
	}
	x.setPhase(i, StepDone, "")
	if err := x.save(ctx); err != nil {
		return "", err
	}
	x.emit(Event{Kind: EventStepDone, Step: step.Name(), Index: i})
	return "", nil
}

// fail records the failure of step i and either rolls back (before the
// point of no return) or ends the plan Failed.
func (x *run) fail(ctx context.Context, i int, failure string) (*State, error) {
	if err := x.stepFailed(ctx, i, failure); err != nil {
		return x.st, err
	}
	reason := fmt.Sprintf("step %q: %s", x.p.Steps[i].Name(), failure)
	if i < x.p.PointOfNoReturn {
		return x.startRollback(x.rollbackCtx(ctx), reason)
	}
	return x.end(ctx, OutcomeFailed, reason)
}

// stepFailed records failure as step i's reason (its phase stays, so a rerun
// knows how far the step got), saves, and emits EventStepFailed.
func (x *run) stepFailed(ctx context.Context, i int, failure string) error {
	x.st.Steps[i].Reason = failure
	x.st.Steps[i].UpdatedAt = x.clk.Now()
	if err := x.save(ctx); err != nil {
		return err
	}
	x.emit(Event{Kind: EventStepFailed, Step: x.p.Steps[i].Name(), Index: i, Reason: failure})
	return nil
}

func (x *run) end(ctx context.Context, o Outcome, reason string) (*State, error) {
	x.st.Outcome = o
	x.st.Reason = reason
	if err := x.save(ctx); err != nil {
		return x.st, err
	}
	x.emit(Event{Kind: EventPlanEnded, Index: -1, Reason: reason, Outcome: o})
	return x.st, nil
}

func (x *run) setPhase(i int, ph StepPhase, reason string) {
	x.st.Steps[i].Phase = ph
	x.st.Steps[i].Reason = reason
	x.st.Steps[i].UpdatedAt = x.clk.Now()
}

func (x *run) save(ctx context.Context) error {
	if err := x.cp.Save(ctx, x.st); err != nil {
		return fmt.Errorf("plan %q: save checkpoint: %w", x.p.Name, err)
	}
	return nil
}

func (x *run) emit(e Event) {
	e.Time = x.clk.Now()
	e.Plan = x.p.Name
	for _, o := range x.obs {
		o.Observe(e)
	}
}

func joinReason(prefix, reason string) string {
	if reason == "" {
		return prefix
	}
	return prefix + ": " + reason
}
