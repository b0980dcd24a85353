package plan

import (
	"context"
	"errors"
	"fmt"
)

// ReasonAborted is the reason of a step failed and of a rollback started
// because the run was cancelled before the point of no return (an abort).
const ReasonAborted = "aborted"

// cancelled handles ctx cancellation while step i was next (started=false)
// or running (started=true).
func (x *run) cancelled(ctx context.Context, i int, started bool) (*State, error) {
	if !x.onCancel || i >= x.p.PointOfNoReturn {
		return x.st, fmt.Errorf("plan %q: interrupted at step %q: %w", x.p.Name, x.p.Steps[i].Name(), ctx.Err())
	}
	dctx := context.WithoutCancel(ctx)
	if started {
		if err := x.stepFailed(dctx, i, ReasonAborted); err != nil {
			return x.st, err
		}
	}
	return x.startRollback(dctx, ReasonAborted)
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
			if err := x.stepFailed(ctx, j, failure); err != nil {
				return x.st, err
			}
			return x.end(ctx, OutcomeFailed, fmt.Sprintf("%s; rollback failed: step %q: %s", reason, x.p.Steps[j].Name(), failure))
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
