package fleet

import (
	"context"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/probe"
)

// target is one server as a client probes it.
type target struct {
	name  string
	probe *probe.MTLS
}

// probeLoop is one client's traffic: one attempt at a time, cycling over the
// servers starting at offset, each attempt a probe.Sample with Target = the
// server's name. Like probe.Runner, an attempt cut short because ctx ended is
// not recorded. rate > 0 caps attempts per second.
func probeLoop(ctx context.Context, clk clock.Clock, targets []target, offset int, rate float64, timeout time.Duration, sink probe.Sink) {
	if timeout == 0 {
		timeout = probe.DefaultTimeout
	}
	var gap time.Duration
	if rate > 0 {
		gap = time.Duration(float64(time.Second) / rate)
	}
	for i := offset; ctx.Err() == nil; i++ {
		t := targets[i%len(targets)]
		start := clk.Now()
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := t.probe.Once(actx)
		cancel()
		lat := clk.Since(start)
		if err != nil && ctx.Err() != nil {
			return
		}
		s := probe.Sample{Probe: t.probe.Name(), Target: t.name, Start: start, Latency: lat, Err: err}
		if err != nil {
			s.Class = probe.Classify(err)
		}
		sink.Add(s)
		if gap > lat {
			if sleepCtx(ctx, clk, gap-lat) != nil {
				return
			}
		}
	}
}

func sleepCtx(ctx context.Context, clk clock.Clock, d time.Duration) error {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
