package rotation

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/handover-dev/handover/internal/plan"
)

// Step names of the staged plan (they key the checkpoint).
const (
	StepAddCA             = "add-new-ca-to-bundles"
	StepTrustNewCA        = "restart-load-once-to-trust-new-ca"
	StepSwitchLeaves      = "switch-leaves-to-new-ca"
	StepDropPrevious      = "drop-previous-ca"
	stagedPointOfNoReturn = 2 // StepSwitchLeaves
)

// stagedPlan is handover's rotation. Every trust change is published to the
// source of truth, waited for (Propagation) and verified by live handshakes
// with every pod before the next one:
//
//  1. add the new CA: bundle [new, previous] (trust.Bundle) to every
//     consumer; gate: every hot-reload consumer accepts a new-CA leaf.
//     Revert: bundle [previous].
//  2. after Propagation, rolling-restart the load-once consumers that do not
//     accept the new CA yet, again (with backoff) while one still does not
//     (its mount lagged); gate: every consumer accepts a new-CA leaf.
//  3. (point of no return) leaves from the new CA to every consumer; after
//     Propagation, restart load-once consumers still presenting an old
//     leaf; gate: every consumer presents a leaf that chains to the new CA.
//  4. after Grace, bundle [new]; after Propagation, restart load-once
//     consumers still trusting the previous CA; gate: every consumer accepts
//     the new CA and rejects the previous one.
//
// A gate that does not pass within the step timeout before step 3 reverts
// step 1 (consumers keep their old leaves throughout, so they never stop
// trusting each other).
func (r *Rotation) stagedPlan() (*plan.Plan, error) {
	now := r.spec.Clock.Now()
	newProbe, err := ProbeLeaf(r.spec.New, now)
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	oldProbe, err := ProbeLeaf(r.spec.Old, now)
	if err != nil {
		return nil, fmt.Errorf("old CA: %w", err)
	}
	newRoots := x509.NewCertPool()
	newRoots.AddCert(r.spec.New.Cert)
	published := map[string]time.Time{}
	publish := func(name string) { r.mu.Lock(); published[name] = r.spec.Clock.Now(); r.mu.Unlock() }
	// settle waits until Propagation after the publish of step name (a full
	// Propagation from now when this process did not see that publish).
	settle := func(ctx context.Context, name string) error {
		r.mu.Lock()
		at, ok := published[name]
		r.mu.Unlock()
		if !ok {
			at = r.spec.Clock.Now()
		}
		return r.waitUntil(ctx, at.Add(r.spec.Propagation))
	}
	needs := func(verify func(context.Context, Consumer) error) func(context.Context, Consumer) bool {
		return func(ctx context.Context, c Consumer) bool { return verify(ctx, c) != nil }
	}
	publishBundle := func(ctx context.Context, name string, bundle func() ([]byte, error)) error {
		b, err := bundle()
		if err != nil {
			return plan.Permanent(err)
		}
		if err := r.spec.Backend.PublishTrustBundle(ctx, b); err != nil {
			return fmt.Errorf("publish bundle: %w", err)
		}
		if name != "" {
			publish(name)
		}
		return nil
	}
	oldOnly := func() ([]byte, error) { return r.bundlePEM(r.spec.Old) }
	overlap := func() ([]byte, error) { return r.bundlePEM(r.spec.New, r.spec.Old) }
	newOnly := func() ([]byte, error) { return r.bundlePEM(r.spec.New) }

	steps := []plan.Step{
		&step{
			name: StepAddCA,
			desc: "publish bundle [new, previous]; gate: every hot-reload consumer accepts a new-CA leaf (live handshake)",
			apply: func(ctx context.Context) error {
				return publishBundle(ctx, StepAddCA, overlap)
			},
			check: func(ctx context.Context) plan.Result {
				return r.gate(ctx, "accept the new CA (hot-reload)", isHot, r.accepts(newProbe))
			},
			revert: func(ctx context.Context) error {
				return publishBundle(ctx, "", oldOnly)
			},
		},
		&step{
			name: StepTrustNewCA,
			desc: "after the propagation bound, rolling-restart load-once consumers that reject the new CA (again, with backoff, while one still does); gate: every consumer accepts a new-CA leaf",
			apply: func(ctx context.Context) error {
				if err := settle(ctx, StepAddCA); err != nil {
					return err
				}
				return r.restartUntilConverged(ctx, "reject the new CA", needs(r.accepts(newProbe)))
			},
			check: func(ctx context.Context) plan.Result {
				return r.gate(ctx, "accept the new CA", nil, r.accepts(newProbe))
			},
		},
		&step{
			name: StepSwitchLeaves,
			desc: "publish leaves from the new CA; after the propagation bound, restart load-once consumers still presenting an old leaf; gate: every consumer presents a new-CA leaf",
			apply: func(ctx context.Context) error {
				if err := r.publishLeaves(ctx); err != nil {
					return err
				}
				publish(StepSwitchLeaves)
				if err := settle(ctx, StepSwitchLeaves); err != nil {
					return err
				}
				return r.restartUntilConverged(ctx, "present an old leaf", needs(r.presents(newRoots, newProbe)))
			},
			check: func(ctx context.Context) plan.Result {
				return r.gate(ctx, "present a new-CA leaf", nil, r.presents(newRoots, newProbe))
			},
		},
		&step{
			name: StepDropPrevious,
			desc: "after the grace period, publish bundle [new]; after the propagation bound, restart load-once consumers still trusting the previous CA; gate: every consumer accepts the new CA and rejects the previous one",
			apply: func(ctx context.Context) error {
				if err := r.waitUntil(ctx, r.spec.Clock.Now().Add(r.spec.Grace)); err != nil {
					return err
				}
				if err := publishBundle(ctx, StepDropPrevious, newOnly); err != nil {
					return err
				}
				if err := settle(ctx, StepDropPrevious); err != nil {
					return err
				}
				return r.restartUntilConverged(ctx, "trust the previous CA", needs(r.rejects(oldProbe)))
			},
			check: func(ctx context.Context) plan.Result {
				res := r.gate(ctx, "accept the new CA", nil, r.accepts(newProbe))
				if res.State != plan.CheckDone {
					return res
				}
				return r.gate(ctx, "reject the previous CA", nil, r.rejects(oldProbe))
			},
		},
	}
	return &plan.Plan{Name: "rotate-trust-staged", Steps: steps, PointOfNoReturn: stagedPointOfNoReturn}, nil
}
