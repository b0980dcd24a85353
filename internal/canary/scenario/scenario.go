package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/report"
)

// Run names and the report kind.
const (
	RunInPlace    = "in-place"
	RunCanaryBad  = "canary-bad"
	RunCanaryGood = "canary-good"
	Kind          = "controller-canary"
)

// Options configure Run.
type Options struct {
	// Admin is an admin config of the apiserver; the Route and
	// ControllerCanary CRDs must be installed.
	Admin *rest.Config
	// Routes per run (default 1000).
	Routes int
	// MaxDeletes is canary-bad's deletionBudget.maxDeletes (default 10).
	MaxDeletes int32
	// SweepInterval is the children probe's period (default 250 ms).
	SweepInterval time.Duration
	// CleanupInterval is the sample controllers' orphan-cleanup period
	// (default 2 s).
	CleanupInterval time.Duration
	// Log receives progress lines (may be nil).
	Log io.Writer
	// ShadowDuration is shadow-bad's spec.shadow.duration (default
	// DefaultShadowDuration).
	ShadowDuration time.Duration
	// OnShadow, when set, receives the shadow record of a run with a shadow
	// step (shadow-bad) when it ended.
	OnShadow func(run string, rec *canary.ShadowRecord)
	// Runs, when set, runs only these (by name, in the usual order).
	Runs []string
}

func (o *Options) defaults() {
	if o.Routes <= 0 {
		o.Routes = 1000
	}
	if o.MaxDeletes <= 0 {
		o.MaxDeletes = 10
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 250 * time.Millisecond
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = 2 * time.Second
	}
	if o.ShadowDuration <= 0 {
		o.ShadowDuration = DefaultShadowDuration
	}
}

// env is what the three runs share.
type env struct {
	o      Options
	scheme *runtime.Scheme
	admin  client.Client
	srv    *canary.Server
}

// Run grants the sample identities, starts handover's webhook server on
// 127.0.0.1 and runs in-place, shadow-bad, canary-bad and canary-good in
// that order (or Options.Runs of them), each in its own namespace. It returns the runs done so far and the first error.
func Run(ctx context.Context, o Options) ([]report.Run, error) {
	o.defaults()
	s, err := sample.NewScheme()
	if err != nil {
		return nil, err
	}
	admin, err := client.New(o.Admin, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	if err := sample.Grant(ctx, admin, User(sample.V1), User(sample.V2), User(sample.V3)); err != nil {
		return nil, err
	}
	srv, err := canary.StartServer("127.0.0.1:0", nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Close() }()
	e := &env{o: o, scheme: s, admin: admin, srv: srv}
	var runs []report.Run
	all := []struct {
		name string
		f    func(context.Context) (report.Run, error)
	}{{RunInPlace, e.inPlace}, {RunShadowBad, e.shadowBad}, {RunCanaryBad, e.canaryBad}, {RunCanaryGood, e.canaryGood}}
	for _, x := range all {
		if len(o.Runs) > 0 && !slices.Contains(o.Runs, x.name) {
			continue
		}
		r, err := x.f(ctx)
		if err != nil {
			return runs, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// prepare creates ns with the Routes, starts v1 and waits until it rendered
// every child.
func (e *env) prepare(ctx context.Context, ns string) (*Controller, error) {
	logf(e.o.Log, "%s: creating %d Routes, v1 renders their children", ns, e.o.Routes)
	if err := CreateRoutes(ctx, e.admin, ns, e.o.Routes); err != nil {
		return nil, err
	}
	v1, err := StartController(ctx, e.o.Admin, e.scheme, sample.V1, ns, e.o.CleanupInterval, nil)
	if err != nil {
		return nil, err
	}
	if err := WaitAllCorrect(ctx, e.admin, ns, 3*time.Minute); err != nil {
		_ = v1.Stop()
		return nil, fmt.Errorf("%s: v1 did not render every child: %w", ns, err)
	}
	return v1, nil
}

// Verdict checks the demo's promises: in-place lost at least 90 % of the
// children, canary-bad lost at most the budget and rolled back, canary-good
// succeeded with no overlapping write and no delete over budget.
func Verdict(runs []report.Run) error {
	var bad []error
	for _, r := range runs {
		switch r.Name {
		case RunInPlace:
			if r.Metrics["children_deleted"] < 0.9*r.Metrics["children_total"] {
				bad = append(bad, fmt.Errorf("in-place: only %.0f of %.0f children deleted; the bug did not show", r.Metrics["children_deleted"], r.Metrics["children_total"]))
			}
		case RunCanaryBad:
			if r.Metrics["children_deleted"] > r.Metrics["max_deletes"] {
				bad = append(bad, fmt.Errorf("canary-bad: %.0f children deleted, budget %.0f", r.Metrics["children_deleted"], r.Metrics["max_deletes"]))
			}
			if r.Outcome != "RolledBack" {
				bad = append(bad, fmt.Errorf("canary-bad: outcome %q, want RolledBack", r.Outcome))
			}
		case RunShadowBad:
			bad = append(bad, shadowVerdict(r)...)
		case RunCanaryGood:
			if r.Outcome != "Succeeded" {
				bad = append(bad, fmt.Errorf("canary-good: outcome %q, want Succeeded", r.Outcome))
			}
			for _, k := range []string{"overlapping_writes", "deletes_over_budget"} {
				if r.Checks[k] != 0 {
					bad = append(bad, fmt.Errorf("canary-good: %s = %d", k, r.Checks[k]))
				}
			}
		}
	}
	return errors.Join(bad...)
}

func msSince(from, to time.Time) float64 {
	return float64(to.Sub(from).Microseconds()) / 1000
}
