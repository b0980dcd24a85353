package canary

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/plan"
)

// Throttle returns a gate that evaluates f at most once per every (clk; nil
// = real clock) and repeats its last Done or NotYet in between: a gate that
// LISTs every object must not run at the plan's 100 ms poll. A Failed is
// never cached (the plan stops on it anyway).
func Throttle(every time.Duration, clk clock.PassiveClock, f func(context.Context) plan.Result) func(context.Context) plan.Result {
	if clk == nil {
		clk = clock.RealClock{}
	}
	var (
		mu   sync.Mutex
		last time.Time
		res  plan.Result
	)
	return func(ctx context.Context) plan.Result {
		mu.Lock()
		defer mu.Unlock()
		if !last.IsZero() && clk.Since(last) < every && res.State != plan.CheckFailed {
			return res
		}
		last, res = clk.Now(), f(ctx)
		return res
	}
}
