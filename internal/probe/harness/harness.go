// Package harness runs a transition with probes beside it: start the probe
// runners and background checkers, measure a baseline, run the
// transition (a plan on the engine or a scripted baseline), measure the
// aftermath, stop the probes, and return the recorder's summary. It is the
// one "plan + probes → report" loop: the control-plane demo's three runs
// and `controlplane migrate`, the etcd migration (migration/etcd/session:
// `etcd migrate`, `demo etcd`) and the trust-rotation demo
// (rotation/scenario: a fleet whose clients report to the Recorder
// themselves, probed Until n handshakes) all run on it.
package harness

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/probe"
)

// Options configure Run.
type Options struct {
	// Probes are driven for the whole run; their Sink and Clock are set to
	// the run's recorder and clock.
	Probes []*probe.Runner
	// Background functions (watchers, external clients) run until the
	// probes stop plus Settle; they must return when ctx ends.
	Background []func(ctx context.Context)
	// Baseline is probed before the transition, Aftermath after it
	// (defaults 1 s and 1 s).
	Baseline, Aftermath time.Duration
	// Until, when set, extends the aftermath: after Aftermath, probing goes
	// on until it returns nil (e.g. "at least n attempts were made") or ctx
	// ends. It is polled every 50 ms and must not block.
	Until func() error
	// Recorder, when set, is the run's recorder: for probes that report to
	// it themselves and must be built before Run (a fleet's clients); nil
	// = a fresh one.
	Recorder *probe.Recorder
	Clock    clock.Clock // nil = real clock
}

// Transition runs the change; it reports phases to rec (as a plan.Observer
// or with Mark).
type Transition func(ctx context.Context, rec *probe.Recorder) error

// Result is what Run measured.
type Result struct {
	Summary probe.Summary
	Wall    time.Duration // transition only
	Err     error         // the transition's error
}

// Run runs t with the probes. The returned function stops the background
// functions; call it after verifying (a watcher must still run while its
// end checks wait for it). Run returns the transition's error in Result.
func Run(ctx context.Context, o Options, t Transition) (Result, func()) {
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	if o.Baseline == 0 {
		o.Baseline = time.Second
	}
	if o.Aftermath == 0 {
		o.Aftermath = time.Second
	}
	rec := o.Recorder
	if rec == nil {
		rec = probe.NewRecorder(clk)
	}
	bctx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	for _, f := range o.Background {
		bg.Go(func() { f(bctx) })
	}
	pctx, stopProbes := context.WithCancel(context.WithoutCancel(ctx))
	var pw sync.WaitGroup
	for _, r := range o.Probes {
		r.Sink, r.Clock = rec, clk
		pw.Go(func() { _ = r.Run(pctx) })
	}
	sleep(ctx, clk, o.Baseline)
	start := clk.Now()
	err := t(ctx, rec)
	wall := clk.Since(start)
	sleep(ctx, clk, o.Aftermath)
	for o.Until != nil && o.Until() != nil && ctx.Err() == nil {
		sleep(ctx, clk, 50*time.Millisecond)
	}
	stopProbes()
	pw.Wait()
	return Result{Summary: rec.Summary(), Wall: wall, Err: err}, func() { stopBg(); bg.Wait() }
}

func sleep(ctx context.Context, clk clock.Clock, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-clk.After(d):
	}
}
