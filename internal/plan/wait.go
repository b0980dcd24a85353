package plan

import (
	"context"
	"fmt"
	"time"
)

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
