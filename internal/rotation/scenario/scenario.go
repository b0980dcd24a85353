// Package scenario runs one trust-rotation strategy against a fresh local
// fleet (internal/fleet) while the fleet's clients probe every server, and
// returns what the probes measured. It is the engine of `handover demo
// rotate`.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/fleet"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/probe/harness"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// ErrInvalidOptions is returned by Run for a bad Options field (named).
var ErrInvalidOptions = errors.New("invalid scenario options")

// PhaseBaseline names the samples taken before the plan starts.
const PhaseBaseline = "baseline"

// Options describe one run. Zero values take the noted defaults.
type Options struct {
	Strategy rotation.Strategy
	// Servers and Clients: fleet size (default 8 and 8).
	Servers, Clients int
	// LoadOnce is the fraction of servers that read their certificates at
	// start only, rounded to the nearest count; ClientLoadOnce the same for
	// clients. Both in [0, 1].
	LoadOnce, ClientLoadOnce float64
	// Replicas per load-once server (default 2).
	Replicas int
	// Propagation is the upper bound of the per-pod mount delay (default 3s).
	Propagation time.Duration
	// Grace: staged only, how long the previous CA stays after the leaf
	// switch (default 1s).
	Grace time.Duration
	// Startup is how long a restarted replica takes to become ready
	// (default 250ms).
	Startup time.Duration
	// Handshakes is the minimum number of probe attempts: probing goes on
	// until the plan ended, Handshakes were made and tailAfterPlan has
	// passed since the plan ended (so the aftermath is measured). Default 20000.
	Handshakes int64
	// Baseline is how long the fleet is probed before the plan starts
	// (default 1s).
	Baseline time.Duration
	// Seed seeds the propagation delays.
	Seed uint64
	// Dir is where the fleet's pod directories go (a fresh subdirectory per
	// run, removed afterwards); "" = the system temp dir.
	Dir string
	// Progress receives human progress lines; nil = discarded.
	Progress io.Writer
	// Clock is used by the fleet, the engine and the recorder; nil = real.
	Clock clock.WithDelayedExecution
	// FreezeConsumer, when set, names a consumer whose mounts are never
	// updated (to demonstrate a rollback).
	FreezeConsumer string
	// StepTimeout bounds each plan step; 0 = rotation's default.
	StepTimeout time.Duration
}

// Result is one run's measurements.
type Result struct {
	Strategy rotation.Strategy
	Outcome  plan.Outcome
	Reason   string
	Summary  probe.Summary
	// PlanWall is the wall time of the plan alone; Floor its least possible
	// value (rotation.Rotation.Floor, 0 for strategies that do not wait);
	// RestartTime the part of it spent in rolling restarts.
	PlanWall, Floor, RestartTime time.Duration
	// Plan is the plan's description (plan.Describe).
	Plan string
	// Convergence is how the failures ended; see Convergence.
	Convergence Convergence
	// PointOfNoReturn is the name of the plan's first step that is not
	// reverted ("" when every step can be).
	PointOfNoReturn string
}

// Convergence says when a run stopped failing. Probing goes on for at least
// two Propagations and one Startup after the plan ended (tailAfterPlan), so a run whose
// last failed handshake ended more than Propagation before the last sample
// has converged: every mount had time to change since.
type Convergence struct {
	// LastFailure is the end of the last failed handshake, measured from
	// the plan's start; 0 when none failed (negative: only in the baseline).
	LastFailure time.Duration
	// Converged is true when no handshake failed in the last Propagation
	// of probing.
	Converged bool
}

// convergenceOf computes Convergence from a summary, the plan's start and
// the propagation bound. It is pure.
func convergenceOf(sum probe.Summary, planStart time.Time, propagation time.Duration) Convergence {
	if sum.LastFailure.IsZero() {
		return Convergence{Converged: true}
	}
	return Convergence{
		LastFailure: sum.LastFailure.Sub(planStart),
		Converged:   sum.End.Sub(sum.LastFailure) > propagation,
	}
}

func (o *Options) defaults() error {
	if o.Servers == 0 {
		o.Servers = 8
	}
	if o.Clients == 0 {
		o.Clients = 8
	}
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	if o.Propagation == 0 {
		o.Propagation = 3 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = time.Second
	}
	if o.Startup == 0 {
		o.Startup = 250 * time.Millisecond
	}
	if o.Handshakes == 0 {
		o.Handshakes = 20000
	}
	if o.Baseline == 0 {
		o.Baseline = time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	switch {
	case o.Servers < 1:
		return fmt.Errorf("%w: servers is %d, want >= 1", ErrInvalidOptions, o.Servers)
	case o.Clients < 1:
		return fmt.Errorf("%w: clients is %d, want >= 1", ErrInvalidOptions, o.Clients)
	case o.LoadOnce < 0 || o.LoadOnce > 1:
		return fmt.Errorf("%w: load-once is %g, want 0..1", ErrInvalidOptions, o.LoadOnce)
	case o.ClientLoadOnce < 0 || o.ClientLoadOnce > 1:
		return fmt.Errorf("%w: client load-once is %g, want 0..1", ErrInvalidOptions, o.ClientLoadOnce)
	case o.Replicas < 2:
		return fmt.Errorf("%w: replicas is %d, want >= 2", ErrInvalidOptions, o.Replicas)
	case o.Propagation < 0 || o.Grace < 0 || o.Startup < 0 || o.Baseline < 0 || o.StepTimeout < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrInvalidOptions)
	case o.Handshakes < 0:
		return fmt.Errorf("%w: handshakes is %d, want >= 0", ErrInvalidOptions, o.Handshakes)
	}
	_, err := rotation.ParseStrategy(string(o.Strategy))
	return err
}

// Run starts a fresh fleet trusting a fresh CA, probes a baseline, runs the
// strategy's plan to a new CA while probing, keeps probing as Options says,
// and returns the measurements. The plan reverts on ctx cancellation before
// its point of no return; Run then returns what was measured and ctx's error.
// Bad options return ErrInvalidOptions naming the field and start nothing.
func Run(ctx context.Context, opts Options) (Result, error) {
	if err := opts.defaults(); err != nil {
		return Result{}, err
	}
	clk := opts.Clock
	res := Result{Strategy: opts.Strategy}
	old, err := trust.NewCA(trust.CAOptions{CommonName: "handover demo CA (current)"}, clk.Now())
	if err != nil {
		return res, err
	}
	next, err := trust.NewCA(trust.CAOptions{CommonName: "handover demo CA (next)"}, clk.Now())
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp(opts.Dir, "handover-fleet-"+string(opts.Strategy)+"-")
	if err != nil {
		return res, fmt.Errorf("fleet dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	rec := probe.NewRecorder(clk)
	rec.Mark(PhaseBaseline)
	f, err := fleet.Start(ctx, fleet.Config{
		Dir:             filepath.Clean(dir),
		Servers:         opts.Servers,
		Clients:         opts.Clients,
		LoadOnceServers: int(math.Round(opts.LoadOnce * float64(opts.Servers))),
		LoadOnceClients: int(math.Round(opts.ClientLoadOnce * float64(opts.Clients))),
		Replicas:        opts.Replicas,
		Propagation:     opts.Propagation,
		Startup:         opts.Startup,
		Clock:           clk,
		Seed:            opts.Seed,
		Sink:            rec,
	}, old.CertPEM, rotation.Issuer(old, clk.Now))
	if err != nil {
		return res, err
	}
	closed := false
	defer func() {
		if !closed {
			_ = f.Close()
		}
	}()
	if opts.FreezeConsumer != "" {
		if err := f.Freeze(opts.FreezeConsumer); err != nil {
			return res, err
		}
	}
	rot, err := rotation.Build(opts.Strategy, rotation.Spec{
		Backend: f, Old: old, New: next, Propagation: opts.Propagation,
		Grace: opts.Grace, StepTimeout: opts.StepTimeout, Clock: clk,
	})
	if err != nil {
		return res, err
	}
	res.Plan = plan.Describe(rot.Plan)
	if i := rot.Plan.PointOfNoReturn; i < len(rot.Plan.Steps) {
		res.PointOfNoReturn = rot.Plan.Steps[i].Name()
	}
	name := string(opts.Strategy)
	runner := &plan.Runner{
		Observers:        []plan.Observer{rec, progressObserver(opts.Progress, name)},
		Clock:            clk,
		RollbackOnCancel: true,
	}
	// The fleet's clients are the probes (they report to rec themselves
	// from the start); after the plan, probing goes on for tailAfterPlan
	// and until opts.Handshakes attempts were made.
	var st *plan.State
	var start time.Time
	hr, stopBackground := harness.Run(ctx, harness.Options{
		Background: []func(context.Context){progressTicker(clk, opts.Progress, name, f)},
		Baseline:   opts.Baseline, Aftermath: tailAfterPlan(opts),
		Until: func() error {
			if r, _ := f.Counts(); r < opts.Handshakes {
				return fmt.Errorf("%d of %d handshakes", r, opts.Handshakes)
			}
			return nil
		},
		Recorder: rec, Clock: clk,
	}, func(ctx context.Context, _ *probe.Recorder) error {
		start = clk.Now()
		var err error
		st, err = runner.Run(ctx, rot.Plan)
		return err
	})
	stopBackground()
	res.PlanWall = hr.Wall
	res.Floor, res.RestartTime = rot.Floor(), rot.RestartTime()
	if st != nil {
		res.Outcome, res.Reason = st.Outcome, st.Reason
	}
	runErr := hr.Err
	if runErr == nil {
		runErr = ctx.Err()
	}
	closed = true
	if err := f.Close(); err != nil && runErr == nil {
		runErr = err
	}
	res.Summary = rec.Summary()
	res.Convergence = convergenceOf(res.Summary, start, opts.Propagation)
	return res, runErr
}

// tailAfterPlan is how long probing goes on after the plan ended: a mount
// may change up to one Propagation after the plan's last write and a
// restarted load-once replica needs Startup more to serve it, so failures can
// still begin then; one Propagation more of probing shows whether they
// stopped (Convergence).
func tailAfterPlan(o Options) time.Duration {
	return 2*o.Propagation + o.Startup
}
