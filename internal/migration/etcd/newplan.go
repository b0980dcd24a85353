package etcd

import (
	"fmt"

	"github.com/handover-dev/handover/internal/plan"
)

// NewPlan builds the migration plan for cfg:
//
//	preflight
//	add-learner/T, provision/T, catch-up/T, promote/T   for each target T
//	move-leader
//	verify/before-removal
//	--- point of no return ---
//	remove/S1, verify/after-first-removal, remove/S2 … remove/Sn
//	verify/final
//
// Step names depend only on the target and source names, so the same Config
// (with the persisted Sources) rebuilds the same plan after a restart. It
// returns an error wrapping ErrInvalidConfig or ErrInvalidTarget on bad
// input; nothing is contacted.
func NewPlan(cfg Config) (*plan.Plan, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var srcNames, tgtNames []string
	for _, s := range cfg.Sources {
		srcNames = append(srcNames, sourceName(s))
	}
	for _, t := range cfg.Targets {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		tgtNames = append(tgtNames, t.Name)
	}
	if _, err := Sequence(srcNames, tgtNames); err != nil {
		return nil, err
	}
	w := &world{cfg: &cfg}
	steps := []plan.Step{&preflightStep{w: w}}
	for _, t := range cfg.Targets {
		steps = append(steps, &addLearnerStep{w: w, t: t}, &provisionStep{w: w, t: t},
			&catchUpStep{w: w, t: t}, &promoteStep{w: w, t: t})
	}
	steps = append(steps, &moveLeaderStep{w: w}, &verifyStep{w: w, label: "before-removal"})
	pnr := len(steps)
	for i, s := range cfg.Sources {
		steps = append(steps, &removeStep{w: w, src: s})
		if i == 0 {
			steps = append(steps, &verifyStep{w: w, label: "after-first-removal"})
		}
	}
	steps = append(steps, &verifyStep{w: w, label: "final"})
	p := &plan.Plan{Name: cfg.Name, Steps: steps, PointOfNoReturn: pnr,
		StepTimeout: cfg.StepTimeout, PollInterval: cfg.PollInterval}
	if err := plan.Validate(p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return p, nil
}

// DescribeSequence renders the membership sequence for --plan output, one
// stage per line, starting with the initial membership.
func DescribeSequence(sources []Member, targets []Target) (string, error) {
	var srcNames, tgtNames []string
	for _, s := range sources {
		srcNames = append(srcNames, sourceName(s))
	}
	for _, t := range targets {
		tgtNames = append(tgtNames, t.Name)
	}
	seq, err := Sequence(srcNames, tgtNames)
	if err != nil {
		return "", err
	}
	n := len(sources)
	out := fmt.Sprintf("membership sequence (%d → %d voters; a crossover, where neither side alone keeps quorum, is unavoidable and happens once):\n", n, len(targets))
	out += fmt.Sprintf("  %-11s %-12s → %d+0 voters, quorum %d, tolerates %d, source side keeps quorum\n", "start", "", n, Quorum(n), FaultTolerance(n))
	for _, st := range seq {
		out += "  " + st.String() + "\n"
	}
	return out, nil
}
