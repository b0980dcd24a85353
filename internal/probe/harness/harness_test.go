package harness

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/probe"
)

// Run probes before, during and after the transition, attributes samples
// to the phases it marks, returns its error, and keeps background
// functions running until the returned stop is called.
func TestRun(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	p := probe.Func{N: "p", F: func(context.Context) error {
		if fail.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	var bgRunning atomic.Bool
	boom := errors.New("boom")
	res, stop := Run(context.Background(), Options{
		Probes:     []*probe.Runner{{Probe: p, Rate: 200}},
		Background: []func(context.Context){func(ctx context.Context) { bgRunning.Store(true); <-ctx.Done(); bgRunning.Store(false) }},
		Baseline:   100 * time.Millisecond, Aftermath: 100 * time.Millisecond,
	}, func(_ context.Context, rec *probe.Recorder) error {
		rec.Mark("broken")
		fail.Store(true)
		time.Sleep(100 * time.Millisecond)
		fail.Store(false)
		rec.Mark("fixed")
		time.Sleep(50 * time.Millisecond)
		return boom
	})
	if !errors.Is(res.Err, boom) {
		t.Fatalf("Err = %v, want the transition's error", res.Err)
	}
	if !bgRunning.Load() {
		t.Fatal("background stopped before stop was called")
	}
	stop()
	if bgRunning.Load() {
		t.Fatal("background still running after stop")
	}
	byPhase := map[string]probe.PhaseSummary{}
	for _, ph := range res.Summary.Phases {
		byPhase[ph.Name] = ph
	}
	if byPhase[probe.PhaseBaseline].Requests == 0 || byPhase[probe.PhaseBaseline].Failures != 0 {
		t.Errorf("baseline %+v: want requests and no failures", byPhase[probe.PhaseBaseline])
	}
	if byPhase["broken"].Failures == 0 {
		t.Errorf("broken phase %+v: want failures", byPhase["broken"])
	}
	if byPhase["fixed"].Requests == 0 || byPhase["fixed"].Failures != 0 {
		t.Errorf("fixed phase %+v: want requests and no failures", byPhase["fixed"])
	}
}

// A given recorder is the run's (samples reported to it outside the
// probe runners count), and Until keeps the aftermath going until it is
// satisfied.
func TestRunRecorderAndUntil(t *testing.T) {
	t.Parallel()
	rec := probe.NewRecorder(nil)
	var polls atomic.Int64
	res, stop := Run(context.Background(), Options{Recorder: rec, Baseline: time.Millisecond, Aftermath: time.Millisecond,
		Until: func() error {
			// An outside client reports one attempt per poll; satisfied
			// after three.
			rec.Add(probe.Sample{Probe: "outside", Start: time.Now()})
			if polls.Add(1) < 3 {
				return errors.New("fewer than 3 attempts")
			}
			return nil
		}}, func(context.Context, *probe.Recorder) error { return nil })
	stop()
	if polls.Load() != 3 {
		t.Errorf("Until polled %d times, want 3", polls.Load())
	}
	if res.Summary.Requests != 3 {
		t.Errorf("summary has %d requests, want the 3 the outside client recorded", res.Summary.Requests)
	}
}
