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
//     Permanent), poll Check every PollInterval until Done, persist Done.
//     Applying steps of a resumed run are applied again; Done steps are
//     skipped.
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
	if failure, err := x.retry(ctx, sctx, timeout, "apply", step.Apply); failure != "" || err != nil {
		return failure, err
	}
	last := ""
	for {
		res := step.Check(sctx)
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
	name := x.p.Steps[i].Name()
	x.st.Steps[i].Reason = failure
	x.st.Steps[i].UpdatedAt = x.clk.Now()
	if err := x.save(ctx); err != nil {
		return x.st, err
	}
	x.emit(Event{Kind: EventStepFailed, Step: name, Index: i, Reason: failure})
	reason := fmt.Sprintf("step %q: %s", name, failure)
	if i < x.p.PointOfNoReturn {
		return x.startRollback(x.rollbackCtx(ctx), reason)
	}
	return x.end(ctx, OutcomeFailed, reason)
}

// cancelled handles ctx cancellation while step i was next (started=false)
// or running (started=true).
func (x *run) cancelled(ctx context.Context, i int, started bool) (*State, error) {
	if !x.onCancel || i >= x.p.PointOfNoReturn {
		return x.st, fmt.Errorf("plan %q: interrupted at step %q: %w", x.p.Name, x.p.Steps[i].Name(), ctx.Err())
	}
	dctx := context.WithoutCancel(ctx)
	if started {
		x.st.Steps[i].Reason = "aborted"
		x.st.Steps[i].UpdatedAt = x.clk.Now()
		if err := x.save(dctx); err != nil {
			return x.st, err
		}
		x.emit(Event{Kind: EventStepFailed, Step: x.p.Steps[i].Name(), Index: i, Reason: "aborted"})
	}
	return x.startRollback(dctx, "aborted")
}

func (x *run) startRollback(ctx context.Context, reason string) (*State, error) {
	x.st.RollingBack = true
	x.st.RollbackReason = reason
	x.st.Reason = reason
	if err := x.save(ctx); err != nil {
		return x.st, err
	}
	return x.rollback(ctx, reason)
}

// rollback reverts, in reverse order, every step before the point of no
// return that is Applying, Done or Reverting, and ends the plan RolledBack
// with reason; it stops at the first Revert that cannot complete and ends
// Failed with both reasons (RollingBack stays set so a rerun retries).
func (x *run) rollback(ctx context.Context, reason string) (*State, error) {
	for j := x.p.PointOfNoReturn - 1; j >= 0; j-- {
		switch x.st.Steps[j].Phase {
		case StepApplying, StepDone, StepReverting:
		default:
			continue
		}
		if err := ctx.Err(); err != nil {
			return x.st, fmt.Errorf("plan %q: rollback interrupted at step %q: %w", x.p.Name, x.p.Steps[j].Name(), err)
		}
		failure, err := x.revert(ctx, j)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return x.st, fmt.Errorf("plan %q: rollback interrupted at step %q: %w", x.p.Name, x.p.Steps[j].Name(), err)
			}
			return x.st, err
		}
		if failure != "" {
			name := x.p.Steps[j].Name()
			x.st.Steps[j].Reason = failure
			x.st.Steps[j].UpdatedAt = x.clk.Now()
			if err := x.save(ctx); err != nil {
				return x.st, err
			}
			x.emit(Event{Kind: EventStepFailed, Step: name, Index: j, Reason: failure})
			return x.end(ctx, OutcomeFailed, fmt.Sprintf("%s; rollback failed: step %q: %s", reason, name, failure))
		}
	}
	return x.end(ctx, OutcomeRolledBack, reason)
}

// revert reverts step j; results as for forward.
func (x *run) revert(ctx context.Context, j int) (string, error) {
	step := x.p.Steps[j]
	x.setPhase(j, StepReverting, "")
	if err := x.save(ctx); err != nil {
		return "", err
	}
	x.emit(Event{Kind: EventStepReverting, Step: step.Name(), Index: j})
	timeout := x.timeout(step)
	sctx, stop := x.withTimeout(ctx, timeout)
	defer stop()
	if failure, err := x.retry(ctx, sctx, timeout, "revert", step.Revert); failure != "" || err != nil {
		return failure, err
	}
	x.setPhase(j, StepReverted, "")
	if err := x.save(ctx); err != nil {
		return "", err
	}
	x.emit(Event{Kind: EventStepReverted, Step: step.Name(), Index: j})
	return "", nil
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

// retry calls fn until it returns nil, a Permanent error, or the step
// context ends; between attempts it waits a backoff that starts at the poll
// interval and doubles up to maxBackoffFactor times it.
func (x *run) retry(ctx, sctx context.Context, timeout time.Duration, what string, fn func(context.Context) error) (string, error) {
	backoff := x.poll()
	for {
		err := fn(sctx)
		if err == nil {
			return "", nil
		}
		if failure, ierr := x.interrupted(ctx, sctx, timeout, what+": "+err.Error()); failure != "" || ierr != nil {
			return failure, ierr
		}
		if IsPermanent(err) {
			return fmt.Sprintf("%s: %v", what, err), nil
		}
		if !x.sleep(sctx, backoff) {
			return x.interrupted(ctx, sctx, timeout, what+": "+err.Error())
		}
		backoff = min(2*backoff, maxBackoffFactor*x.poll())
	}
}

// interrupted reports why sctx ended: ("", ctx.Err()) when the caller's ctx
// is done, a timeout failure (mentioning last, the latest progress or error)
// when the step timer fired, ("", nil) while sctx is live.
func (x *run) interrupted(ctx, sctx context.Context, timeout time.Duration, last string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if sctx.Err() == nil {
		return "", nil
	}
	msg := fmt.Sprintf("%v after %s", ErrStepTimeout, timeout)
	if last != "" {
		msg += " (last: " + last + ")"
	}
	return msg, nil
}

// withTimeout returns a context cancelled with cause ErrStepTimeout when the
// injected clock has advanced by d, or when ctx ends.
func (x *run) withTimeout(ctx context.Context, d time.Duration) (context.Context, func()) {
	sctx, cancel := context.WithCancelCause(ctx)
	t := x.clk.NewTimer(d)
	done := make(chan struct{})
	go func() {
		select {
		case <-t.C():
			cancel(ErrStepTimeout)
		case <-done:
		}
	}()
	return sctx, func() {
		close(done)
		t.Stop()
		cancel(nil)
	}
}

// sleep waits d on the injected clock; false when ctx ended first.
func (x *run) sleep(ctx context.Context, d time.Duration) bool {
	t := x.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

func (x *run) timeout(s Step) time.Duration {
	if t, ok := s.(Timeouter); ok && t.Timeout() > 0 {
		return t.Timeout()
	}
	if x.p.StepTimeout > 0 {
		return x.p.StepTimeout
	}
	return DefaultStepTimeout
}

func (x *run) poll() time.Duration {
	if x.p.PollInterval > 0 {
		return x.p.PollInterval
	}
	return DefaultPollInterval
}

// rollbackCtx is the context a rollback runs under: detached from ctx when
// RollbackOnCancel is set, so a Ctrl-C during a rollback does not stop it.
func (x *run) rollbackCtx(ctx context.Context) context.Context {
	if x.onCancel {
		return context.WithoutCancel(ctx)
	}
	return ctx
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
