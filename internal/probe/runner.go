package probe

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// DefaultTimeout bounds one attempt when Runner.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Runner drives a Probe continuously and sends every attempt to a Sink.
type Runner struct {
	Probe  Probe
	Target string // copied into Sample.Target
	// Rate is the attempt rate in attempts per second across all workers;
	// 0 = back-to-back (every worker starts its next attempt as soon as the
	// previous one ended). The rate is a ceiling: a tick that finds every
	// worker busy is dropped, not queued, so a slow system is not hit by a
	// burst when it recovers.
	Rate float64
	// Concurrency is the number of workers (attempts in flight at most);
	// 0 = 1.
	Concurrency int
	// Timeout bounds one attempt (the ctx passed to Probe.Once); 0 = 2s.
	Timeout time.Duration
	// Clock stamps Sample.Start and measures Sample.Latency; nil = real clock.
	Clock clock.PassiveClock
	Sink  Sink
}

// Run probes until ctx is done, then waits for the attempts in flight and
// returns nil. An attempt cut short because ctx ended is not recorded (it
// would count the shutdown as a failure). Run returns an error wrapping
// ErrInvalidConfig, without probing, when Probe or Sink is nil or Rate,
// Concurrency or Timeout is negative.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.validate(); err != nil {
		return err
	}
	clk := r.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	workers := max(r.Concurrency, 1)

	var ticks <-chan time.Time
	if r.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / r.Rate))
		defer t.Stop()
		ticks = t.C
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				if ticks != nil {
					select {
					case <-ctx.Done():
						return
					case <-ticks:
					}
				} else if ctx.Err() != nil {
					return
				}
				r.attempt(ctx, clk, timeout)
			}
		})
	}
	wg.Wait()
	return nil
}

func (r *Runner) attempt(ctx context.Context, clk clock.PassiveClock, timeout time.Duration) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := clk.Now()
	err := r.Probe.Once(actx)
	lat := clk.Since(start)
	if err != nil && ctx.Err() != nil {
		return
	}
	s := Sample{Probe: r.Probe.Name(), Target: r.Target, Start: start, Latency: lat, Err: err}
	if err != nil {
		s.Class = Classify(err)
	}
	r.Sink.Add(s)
}

func (r *Runner) validate() error {
	switch {
	case r.Probe == nil:
		return configError("Runner", "Probe", "is nil")
	case r.Sink == nil:
		return configError("Runner", "Sink", "is nil")
	case r.Rate < 0:
		return configError("Runner", "Rate", "is negative")
	case r.Concurrency < 0:
		return configError("Runner", "Concurrency", "is negative")
	case r.Timeout < 0:
		return configError("Runner", "Timeout", "is negative")
	}
	return nil
}
