package scenario

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/fleet"
	"github.com/handover-dev/handover/internal/plan"
)

const progressEvery = 2 * time.Second

// progressObserver prints plan events as human lines on w.
func progressObserver(w io.Writer, name string) plan.Observer {
	return plan.ObserverFunc(func(e plan.Event) {
		switch e.Kind {
		case plan.EventStepStarted:
			_, _ = fmt.Fprintf(w, "[%s] step %d: %s\n", name, e.Index+1, e.Step)
		case plan.EventStepProgress:
			_, _ = fmt.Fprintf(w, "[%s]   waiting: %s\n", name, e.Reason)
		case plan.EventStepFailed:
			_, _ = fmt.Fprintf(w, "[%s]   failed: %s\n", name, e.Reason)
		case plan.EventStepReverting:
			_, _ = fmt.Fprintf(w, "[%s] reverting %s\n", name, e.Step)
		case plan.EventPlanEnded:
			_, _ = fmt.Fprintf(w, "[%s] plan ended: %s %s\n", name, e.Outcome, e.Reason)
		}
	})
}

// progressTicker returns a harness background function that prints the
// fleet's attempt counts every progressEvery until its ctx ends.
func progressTicker(clk clock.Clock, w io.Writer, name string, f *fleet.Fleet) func(context.Context) {
	return func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-clk.After(progressEvery):
			}
			r, failed := f.Counts()
			_, _ = fmt.Fprintf(w, "[%s]   %d handshakes, %d failed\n", name, r, failed)
		}
	}
}
