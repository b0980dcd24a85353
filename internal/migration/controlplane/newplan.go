package controlplane

import (
	"fmt"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/plan"
)

// Plan is a built migration: the plan and the measurements its steps make.
type Plan struct {
	Plan *plan.Plan
	// Config is the configuration with defaults applied.
	Config *Config
	Stats  *Stats
	// EtcdStats are the etcd steps' catch-up measurements.
	EtcdStats *etcdmig.Stats
}

// NewPlan builds the control-plane migration (see the package doc for the
// order). Step names depend only on the etcd source and target names, so
// the same Config rebuilds the same plan after a restart. Bad input returns
// an error wrapping ErrInvalidConfig (or the etcd package's errors); nothing
// is contacted.
func NewPlan(cfg Config) (*Plan, error) {
	c := cfg
	if err := c.defaults(); err != nil {
		return nil, err
	}
	ph, err := etcdmig.NewPhases(c.Etcd)
	if err != nil {
		return nil, err
	}
	sw := &switchDNSStep{c: &c}
	steps := []plan.Step{ph.Preflight, &preflightStep{c: &c}}
	steps = append(steps, ph.Grow...)
	steps = append(steps, &startTargetStep{c: &c}, sw, &drainStep{c: &c, sw: sw}, &stopSourceStep{c: &c, sw: sw})
	if c.WriteHold == nil {
		steps = append(steps, ph.Handover...)
	} else {
		// The leader transfer (ph.Handover[0], move-leader) inside a write
		// hold; see writepause.go.
		hc := &holdClock{}
		steps = append(steps, &holdWritesStep{c: &c, hc: hc}, ph.Handover[0], &releaseWritesStep{c: &c, hc: hc})
		steps = append(steps, ph.Handover[1:]...)
	}
	pnr := len(steps)
	steps = append(steps, ph.Remove...)
	steps = append(steps, ph.Final, &verifyStep{c: &c})
	p := &plan.Plan{Name: c.Name, Steps: steps, PointOfNoReturn: pnr,
		StepTimeout: ph.Config.StepTimeout, PollInterval: ph.Config.PollInterval}
	if err := plan.Validate(p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &Plan{Plan: p, Config: &c, Stats: c.Stats, EtcdStats: ph.Config.Stats}, nil
}
