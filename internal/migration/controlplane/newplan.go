package controlplane

import (
	"context"
	"fmt"
	"slices"

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
	// One hook for both halves: the etcd migration tells it the lasting
	// changes of the voters (after the caller's own etcd hook).
	c.Etcd.OnEndpoints = etcdmig.Hooks(c.Etcd.OnEndpoints, etcdmig.Lasting(c.OnEndpoints))
	if c.WriteHold != nil {
		// Every etcd leader transfer (move-leader, and a removal's when
		// it must move the leader) runs under the write hold; see
		// writehold.go.
		var hold etcdmig.ClientHold = &clientHold{c: &c}
		if c.Etcd.Hold != nil {
			hold = etcdmig.Holds{c.Etcd.Hold, hold}
		}
		c.Etcd.Hold = hold
	}
	ph, err := etcdmig.NewPhases(c.Etcd)
	if err != nil {
		return nil, err
	}
	sw := &switchDNSStep{c: &c}
	steps := []plan.Step{ph.Preflight, &preflightStep{c: &c}}
	steps = append(steps, ph.Grow...)
	steps = append(steps, &startTargetStep{c: &c}, c.hookDNS(sw), &drainStep{c: &c, sw: sw}, &stopSourceStep{c: &c, sw: sw})
	handover := slices.Clone(ph.Handover)
	if c.WriteHold != nil {
		// handover[0] is move-leader: its transfer holds the writes.
		handover[0] = &heldMove{Step: handover[0], c: &c}
	}
	steps = append(steps, handover...)
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

// hookDNS wraps the DNS switch so that OnEndpoints gates it (nil hook: the
// step as it is).
func (c *Config) hookDNS(sw *switchDNSStep) plan.Step {
	if c.OnEndpoints == nil {
		return sw
	}
	return &hooked{Step: sw, kind: EndpointsAPIServer, hook: c.OnEndpoints,
		endpoints: func(_ context.Context, reverted bool) ([]string, error) {
			if reverted {
				return []string{c.Source.Addr.String()}, nil
			}
			return []string{c.Target.Addr.String()}, nil
		}}
}
