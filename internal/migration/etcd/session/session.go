// Package session runs an etcd migration plan with the etcd probes beside
// it and collects what the report needs: the plan's outcome, the probe
// summary per phase, the verified checks (acknowledged writes, watch gaps)
// and the catch-up measurements. `handover etcd migrate` and `handover demo
// etcd` both drive it.
package session

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"k8s.io/utils/clock"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/probe/etcdprobe"
	"github.com/handover-dev/handover/internal/probe/harness"
)

// Defaults for Options' zero values.
const (
	DefaultProbeRate        = 100 // attempts per second per probe kind
	DefaultProbeConcurrency = 4
)

// Options configure Run.
type Options struct {
	// Migration is the plan's configuration; Run chains the probe's
	// SetEndpoints before its OnEndpoints.
	Migration  etcdmig.Config
	Checkpoint plan.Checkpoint // nil = in-memory
	// ProbeEndpoints are the client URLs the probe starts with (the
	// cluster's voters); ProbeTLS its client TLS (nil = plain).
	ProbeEndpoints []string
	ProbeTLS       *tls.Config
	// ProbeRate is attempts/s for the writer and for the reader (0 =
	// DefaultProbeRate); ProbeConcurrency workers each (0 = default).
	ProbeRate        float64
	ProbeConcurrency int
	NoProbe          bool
	// Log receives the phase log and catch-up progress (nil = discard).
	Log              io.Writer
	Clock            clock.Clock // nil = real clock
	RollbackOnCancel bool
}

// Outcome is what Run measured.
type Outcome struct {
	State    *plan.State
	Summary  probe.Summary
	Probe    etcdprobe.Result
	Probed   bool
	CatchUps []etcdmig.CatchUp
	// Transfers are the leadership transfers the migration made.
	Transfers []etcdmig.Transfer
	Wall      time.Duration
	// WorstStallPhase is the phase in which the worst write stall began
	// ("" when unknown).
	WorstStallPhase string
	// PointOfNoReturn is the name of the plan's first step that is not
	// reverted ("" when every step can be).
	PointOfNoReturn string
}

// pointOfNoReturn names p's first step that is not reverted, "".
func pointOfNoReturn(p *plan.Plan) string {
	if p.PointOfNoReturn < len(p.Steps) {
		return p.Steps[p.PointOfNoReturn].Name()
	}
	return ""
}

// PhaseAt returns the name of the phase of phases that contains t (Start ≤
// t < End, the last phase including its End), or "" when none does. Pure.
func PhaseAt(phases []probe.PhaseSummary, t time.Time) string {
	for i, p := range phases {
		if !t.Before(p.Start) && (t.Before(p.End) || (i == len(phases)-1 && t.Equal(p.End))) {
			return p.Name
		}
	}
	return ""
}

// Run starts the probes (writers, readers, watcher), runs the plan to its
// end, stops the probes and verifies. It returns an error when the plan
// could not run (invalid config, checkpoint I/O, ctx cancelled without
// rollback) or the probe could not start or verify; a plan that ended
// RolledBack or Failed is an Outcome, not an error.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	o.Migration.Clock = clk
	if o.Migration.Stats == nil {
		o.Migration.Stats = &etcdmig.Stats{}
	}
	rec := probe.NewRecorder(clk)
	var pr *etcdprobe.Prober
	if !o.NoProbe {
		var err error
		pr, err = etcdprobe.New(ctx, etcdprobe.Config{Endpoints: o.ProbeEndpoints, TLS: o.ProbeTLS, Clock: clk})
		if err != nil {
			return nil, err
		}
		defer func() { _ = pr.Close() }()
		// The probe follows every change, transient ones too, before the
		// caller's hook is told.
		o.Migration.OnEndpoints = etcdmig.Hooks(func(_ context.Context, ch etcdmig.EndpointChange) error {
			pr.SetEndpoints(ch.Endpoints)
			return nil
		}, o.Migration.OnEndpoints)
		// The probe is a client too: held (first) around every leadership
		// transfer with the user's clients.
		probeHold := etcdmig.HoldFuncs{
			OnHold:    func(context.Context) error { pr.Pause(); return nil },
			OnRelease: func(context.Context) error { pr.Resume(); return nil },
		}
		o.Migration.Hold = etcdmig.Holds{probeHold, o.Migration.Hold}
	}
	p, err := etcdmig.NewPlan(o.Migration)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	runner := plan.Runner{Checkpoint: o.Checkpoint, Clock: clk, RollbackOnCancel: o.RollbackOnCancel,
		Observers: []plan.Observer{rec, NewPhaseLog(log, clk)}}

	start := clk.Now()
	if pr == nil {
		st, runErr := runner.Run(ctx, p)
		return &Outcome{State: st, Summary: rec.Summary(), CatchUps: o.Migration.Stats.CatchUps(), Transfers: o.Migration.Stats.Transfers(),
			Wall: clk.Since(start), PointOfNoReturn: pointOfNoReturn(p)}, runErr
	}
	rate := o.ProbeRate
	if rate == 0 {
		rate = DefaultProbeRate
	}
	conc := o.ProbeConcurrency
	if conc == 0 {
		conc = DefaultProbeConcurrency
	}
	var runners []*probe.Runner
	for _, pb := range []probe.Probe{pr.Writer(), pr.Reader()} {
		runners = append(runners, &probe.Runner{Probe: pb, Rate: rate, Concurrency: conc, Timeout: 5 * time.Second})
	}
	var st *plan.State
	// The probes establish a baseline before the first step and go on
	// half a second after the last; the watcher runs until verified.
	res, stopWatch := harness.Run(ctx, harness.Options{
		Probes: runners, Background: []func(context.Context){pr.Watch},
		Baseline: 500 * time.Millisecond, Aftermath: 500 * time.Millisecond,
		Recorder: rec, Clock: clk,
	}, func(ctx context.Context, _ *probe.Recorder) error {
		var err error
		st, err = runner.Run(ctx, p)
		return err
	})
	defer stopWatch()
	out := &Outcome{State: st, Probed: true, CatchUps: o.Migration.Stats.CatchUps(), Transfers: o.Migration.Stats.Transfers(),
		PointOfNoReturn: pointOfNoReturn(p), Summary: res.Summary}
	verified, err := pr.Result(context.WithoutCancel(ctx), 10*time.Second)
	if err != nil {
		return out, fmt.Errorf("verify probe: %w", err)
	}
	out.Probe = verified
	if verified.WorstWriteStall > 0 {
		out.WorstStallPhase = PhaseAt(out.Summary.Phases, verified.WorstWriteStallEnd.Add(-verified.WorstWriteStall))
	}
	out.Wall = clk.Since(start)
	return out, res.Err
}
