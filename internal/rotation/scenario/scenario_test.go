package scenario

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/rotation"
)

func small(s rotation.Strategy) Options {
	return Options{
		Strategy: s, Servers: 3, Clients: 2, LoadOnce: 0.34,
		Propagation: 200 * time.Millisecond, Grace: 50 * time.Millisecond, Startup: 50 * time.Millisecond,
		Handshakes: 300, Baseline: 200 * time.Millisecond, Seed: 3,
	}
}

func TestStagedScenarioHasNoFailures(t *testing.T) {
	t.Parallel()
	var progress bytes.Buffer
	o := small(rotation.StrategyStaged)
	o.Progress = &progress
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if res.Outcome != plan.OutcomeSucceeded || s.Requests < 300 || s.Failures != 0 {
		t.Fatalf("staged: outcome %s (%s), %d requests, %d failures %v", res.Outcome, res.Reason, s.Requests, s.Failures, s.FailureClasses)
	}
	if res.Floor <= 0 || res.PlanWall < res.Floor {
		t.Fatalf("plan wall %v below its floor %v", res.PlanWall, res.Floor)
	}
	names := map[string]bool{}
	for _, p := range s.Phases {
		names[p.Name] = true
	}
	for _, want := range []string{PhaseBaseline, rotation.StepAddCA, rotation.StepSwitchLeaves, rotation.StepDropPrevious} {
		if !names[want] {
			t.Errorf("no phase %q in %v", want, names)
		}
	}
	if !strings.Contains(progress.String(), "plan ended: Succeeded") {
		t.Errorf("progress lacks the plan end:\n%s", progress.String())
	}
}

func TestAtomicScenarioFails(t *testing.T) {
	t.Parallel()
	res, err := Run(t.Context(), small(rotation.StrategyAtomic))
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Failures == 0 {
		t.Fatalf("atomic: no failed handshake in %d", res.Summary.Requests)
	}
	// A restarted load-once replica mounts the current secret (like a new
	// pod), so once every mount changed the fleet agrees again.
	if !res.Convergence.Converged {
		t.Fatalf("atomic never converged: last failure %s after the plan's start, run ended %s after it",
			res.Convergence.LastFailure, res.Summary.End.Sub(res.Summary.Phases[1].Start))
	}
}

func TestBundleScenarioConverges(t *testing.T) {
	t.Parallel()
	res, err := Run(t.Context(), small(rotation.StrategyBundle))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != plan.OutcomeSucceeded || !res.Convergence.Converged {
		t.Fatalf("bundle: outcome %s, convergence %+v, %d failures", res.Outcome, res.Convergence, res.Summary.Failures)
	}
}

func TestConvergenceOf(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		last time.Time
		want Convergence
	}{
		{"no failure", time.Time{}, Convergence{Converged: true}},
		{"failures stopped early", t0.Add(2 * time.Second), Convergence{LastFailure: 2 * time.Second, Converged: true}},
		{"failures within the last propagation", t0.Add(9 * time.Second), Convergence{LastFailure: 9 * time.Second}},
		{"failure at the very end", t0.Add(10 * time.Second), Convergence{LastFailure: 10 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sum := probe.Summary{End: t0.Add(10 * time.Second), LastFailure: tc.last}
			if got := convergenceOf(sum, t0, 3*time.Second); got != tc.want {
				t.Fatalf("convergenceOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestStagedScenarioRollsBackWithAFrozenConsumer(t *testing.T) {
	t.Parallel()
	o := small(rotation.StrategyStaged)
	o.FreezeConsumer = "client-1"
	o.StepTimeout = 2 * time.Second
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != plan.OutcomeRolledBack || res.Summary.Failures != 0 {
		t.Fatalf("outcome %s, %d failures %v", res.Outcome, res.Summary.Failures, res.Summary.FailureClasses)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Strategy: "nope"},
		{Strategy: rotation.StrategyStaged, LoadOnce: 2},
		{Strategy: rotation.StrategyStaged, Replicas: 1},
		{Strategy: rotation.StrategyStaged, Servers: -1},
	} {
		_, err := Run(t.Context(), o)
		if !errors.Is(err, ErrInvalidOptions) && !errors.Is(err, rotation.ErrUnknownStrategy) {
			t.Errorf("Run(%+v) = %v", o, err)
		}
	}
}
