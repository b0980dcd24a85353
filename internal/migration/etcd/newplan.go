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
	ph, err := NewPhases(cfg)
	if err != nil {
		return nil, err
	}
	steps := append([]plan.Step{ph.Preflight}, ph.Grow...)
	steps = append(steps, ph.Handover...)
	pnr := len(steps)
	steps = append(steps, ph.Remove...)
	steps = append(steps, ph.Final)
	p := &plan.Plan{Name: ph.Config.Name, Steps: steps, PointOfNoReturn: pnr,
		StepTimeout: ph.Config.StepTimeout, PollInterval: ph.Config.PollInterval}
	if err := plan.Validate(p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return p, nil
}

// Phases are the steps of the migration plan in groups, for plans that
// interleave other work with the membership change (a control-plane
// migration starts an apiserver on the targets between Grow and Handover
// and stops the source apiserver before Remove). NewPlan runs them in
// order: Preflight, Grow, Handover, (point of no return) Remove, Final.
type Phases struct {
	// Config is the configuration with its defaults applied.
	Config    Config
	Preflight plan.Step   // "preflight"
	Grow      []plan.Step // add-learner/T, provision/T, catch-up/T, promote/T per target
	Handover  []plan.Step // move-leader, verify/before-removal
	// Remove starts at the point of no return: remove/S1,
	// verify/after-first-removal, remove/S2 … remove/Sn.
	Remove []plan.Step
	Final  plan.Step // verify/final
}

// NewPhases builds the steps of NewPlan, grouped (see Phases). It returns
// an error wrapping ErrInvalidConfig or ErrInvalidTarget on bad input;
// nothing is contacted.
func NewPhases(cfg Config) (*Phases, error) {
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
	ph := &Phases{Config: cfg}
	w := &world{cfg: &ph.Config}
	ph.Preflight = &preflightStep{w: w}
	for _, t := range cfg.Targets {
		ph.Grow = append(ph.Grow, &addLearnerStep{w: w, t: t}, &provisionStep{w: w, t: t},
			&catchUpStep{w: w, t: t}, &promoteStep{w: w, t: t})
	}
	ph.Handover = []plan.Step{&moveLeaderStep{w: w}, &verifyStep{w: w, label: "before-removal"}}
	for i, s := range cfg.Sources {
		ph.Remove = append(ph.Remove, &removeStep{w: w, src: s})
		if i == 0 {
			ph.Remove = append(ph.Remove, &verifyStep{w: w, label: "after-first-removal"})
		}
	}
	ph.Final = &verifyStep{w: w, label: "final"}
	return ph, nil
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
