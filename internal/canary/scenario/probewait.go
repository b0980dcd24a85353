package scenario

import (
	"context"
	"time"
)

// WaitSweeps waits until n sweeps finished after t (the n-th of them then
// started after t), polling every 50 ms, for at most limit or until ctx
// ends; it reports whether they did. A fixed sleep of a few sweep intervals
// is not enough on a loaded machine, where one sweep (two LISTs) can take
// longer than the interval.
func (p *ChildProbe) WaitSweeps(ctx context.Context, t time.Time, n int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		p.mu.Lock()
		k := 0
		for i := len(p.sweeps) - 1; i >= 0 && p.sweeps[i].At.After(t); i-- {
			k++
		}
		p.mu.Unlock()
		if k >= n {
			return true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
