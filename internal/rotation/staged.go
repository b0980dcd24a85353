package rotation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/trust"
)

// Step names of the staged plan (they key the checkpoint).
const (
	StepAddCA             = "add-new-ca-to-bundles"
	StepTrustNewCA        = "restart-load-once-to-trust-new-ca"
	StepSwitchLeaves      = "switch-leaves-to-new-ca"
	StepPresentNewLeaf    = "restart-load-once-to-present-new-leaf"
	StepGracePeriod       = "keep-previous-ca-for-grace-period"
	StepDropPrevious      = "drop-previous-ca"
	StepRejectPrevious    = "restart-load-once-to-drop-previous-ca"
	stagedPointOfNoReturn = 2 // StepSwitchLeaves
)

// stagedPlan is handover's rotation. Every trust change is published to the
// source of truth, waited for (Propagation) and verified by live handshakes
// with every pod before the next one:
//
//  1. add the new CA: bundle [new, previous] (trust.Bundle) to every
//     consumer; gate: Propagation since the publish, and every hot-reload
//     consumer accepts a new-CA leaf. Revert: bundle [previous].
//  2. rolling-restart the load-once consumers that do not accept the new
//     CA yet, again (with backoff) while one still does not (its mount
//     lagged); gate: every consumer accepts a new-CA leaf.
//  3. (point of no return) leaves from the new CA to every consumer; gate:
//     Propagation since the publish, and every hot-reload consumer presents
//     a leaf that chains to the new CA.
//  4. restart load-once consumers still presenting an old leaf; gate:
//     every consumer presents a new-CA leaf.
//  5. keep the previous CA; gate: Grace since this step began, then the
//     signer rule: no CA the next bundle drops signs a leaf in use
//     (Spec.InUse; the reason names both while it waits).
//  6. bundle [new] (plus Spec.Retained up to RestingCap); gate: Propagation since the publish, and every
//     hot-reload consumer rejects the previous CA.
//  7. restart load-once consumers still trusting the previous CA; gate:
//     every consumer accepts the new CA and rejects the previous one.
//
// No step sleeps inside Apply: every wait for a user-set duration
// (Propagation, Grace) is a gate (plan.Elapsed) counted from the step's
// persisted plan.AppliedAt, so a restarted controller resumes the same wait.
// Step timeouts: a step that waits has its wait plus Spec.StepTimeout (the
// verification budget after the wait); the restart steps have
// Spec.StepTimeout. A gate that does not pass within its timeout before
// step 3 reverts step 1 (consumers keep their old leaves throughout, so they
// never stop trusting each other).
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
	publishBundle := func(ctx context.Context, bundle func(context.Context) ([]byte, error)) error {
		b, err := bundle(ctx)
		if err != nil {
			var se *trust.SignerError
			if errors.As(err, &se) {
				return err // retried: the leaf may be re-issued yet
			}
			return plan.Permanent(err)
		}
		if err := r.spec.Backend.PublishTrustBundle(ctx, b); err != nil {
			return fmt.Errorf("publish bundle: %w", err)
		}
		return nil
	}
	// Bundles under Spec.MaxCAs: before and after the rotation at most
	// RestingCap CAs, during the overlap at most MaxCAs; the last one never
	// drops a CA that signs a leaf in use (Spec.InUse).
	resting := RestingCap(r.maxCAs())
	oldOnly := func(ctx context.Context) ([]byte, error) { return r.stagedBundle(ctx, resting, false, r.spec.Old) }
	overlap := func(ctx context.Context) ([]byte, error) {
		return r.stagedBundle(ctx, r.maxCAs(), false, r.spec.New, r.spec.Old)
	}
	newOnly := func(ctx context.Context) ([]byte, error) {
		return r.stagedBundle(ctx, resting, true, r.spec.New, r.spec.Old)
	}
	acceptsNew, presentsNew, rejectsOld := r.accepts(newProbe), r.presents(newRoots, newProbe), r.rejects(oldProbe)
	if resting >= 2 {
		// The bundle after the grace period keeps the previous CA
		// (MaxCAs > 2): nothing has to reject it; only older CAs leave.
		rejectsOld = func(context.Context, Consumer) error { return nil }
	}
	acceptsNewRejectsOld := func(ctx context.Context) plan.Result {
		res := r.gate(ctx, "accept the new CA", nil, acceptsNew)
		if res.State != plan.CheckDone {
			return res
		}
		return r.gate(ctx, "reject the previous CA", nil, rejectsOld)
	}
	budget := r.spec.StepTimeout

	steps := []plan.Step{
		&step{
			name:    StepAddCA,
			desc:    "publish bundle [new, previous]; gate: the propagation bound since the publish, then every hot-reload consumer accepts a new-CA leaf (live handshake)",
			timeout: r.spec.Propagation + budget,
			apply:   func(ctx context.Context) error { return publishBundle(ctx, overlap) },
			check: r.afterWait(r.spec.Propagation, "propagation of bundle [new, previous]", func(ctx context.Context) plan.Result {
				return r.gate(ctx, "accept the new CA (hot-reload)", isHot, acceptsNew)
			}),
			revert: func(ctx context.Context) error { return publishBundle(ctx, oldOnly) },
		},
		r.restartStep(StepTrustNewCA, "rolling-restart load-once consumers that reject the new CA", "every consumer accepts a new-CA leaf",
			"reject the new CA", acceptsNew, func(ctx context.Context) plan.Result { return r.gate(ctx, "accept the new CA", nil, acceptsNew) }),
		&step{
			name:    StepSwitchLeaves,
			desc:    "publish leaves from the new CA; gate: the propagation bound since the publish, then every hot-reload consumer presents a new-CA leaf",
			timeout: r.spec.Propagation + budget,
			apply: func(ctx context.Context) error {
				if _, applied := plan.AppliedAt(ctx); applied {
					// Resumed after the leaves were published: issuing
					// them again would restart their propagation.
					return nil
				}
				return r.publishLeaves(ctx)
			},
			check: func(ctx context.Context) plan.Result {
				if res := r.leavesGate(ctx); res.State != plan.CheckDone {
					return res
				}
				return r.afterWait(r.spec.Propagation, "propagation of the new leaves", func(ctx context.Context) plan.Result {
					return r.gate(ctx, "present a new-CA leaf (hot-reload)", isHot, presentsNew)
				})(ctx)
			},
		},
		r.restartStep(StepPresentNewLeaf, "restart load-once consumers still presenting an old leaf", "every consumer presents a new-CA leaf",
			"present an old leaf", presentsNew, func(ctx context.Context) plan.Result { return r.gate(ctx, "present a new-CA leaf", nil, presentsNew) }),
		&step{
			name:    StepGracePeriod,
			desc:    "keep the previous CA in the bundles; gate: the grace period since this step began, then no CA that the next bundle drops signs a leaf in use",
			timeout: r.spec.Grace + budget,
			apply:   func(context.Context) error { return nil },
			check:   r.afterWait(r.spec.Grace, "the grace period", r.signerGate),
		},
		&step{
			name:    StepDropPrevious,
			desc:    "publish bundle [new]; gate: the propagation bound since the publish, then every hot-reload consumer accepts the new CA and rejects the previous one",
			timeout: r.spec.Propagation + budget,
			apply:   func(ctx context.Context) error { return publishBundle(ctx, newOnly) },
			check: r.afterWait(r.spec.Propagation, "propagation of bundle [new]", func(ctx context.Context) plan.Result {
				res := r.gate(ctx, "accept the new CA (hot-reload)", isHot, acceptsNew)
				if res.State != plan.CheckDone {
					return res
				}
				return r.gate(ctx, "reject the previous CA (hot-reload)", isHot, rejectsOld)
			}),
		},
		r.restartStep(StepRejectPrevious, "restart load-once consumers still trusting the previous CA", "every consumer accepts the new CA and rejects the previous one",
			"trust the previous CA", rejectsOld, acceptsNewRejectsOld),
	}
	return &plan.Plan{Name: "rotate-trust-staged", Steps: steps, PointOfNoReturn: stagedPointOfNoReturn}, nil
}

// afterWait is a gate that answers NotYet until d has passed since the
// step's persisted plan.AppliedAt (on the spec's clock), then then's answer.
func (r *Rotation) afterWait(d time.Duration, what string, then func(context.Context) plan.Result) func(context.Context) plan.Result {
	return func(ctx context.Context) plan.Result {
		at, _ := plan.AppliedAt(ctx)
		if res := plan.Elapsed(r.spec.Clock.Now(), at, d, what); res.State != plan.CheckDone {
			return res
		}
		return then(ctx)
	}
}

// restartStep restarts the load-once consumers that verify rejects (again,
// with backoff, while one still does: a replacement whose mount lagged);
// check is its gate. Its timeout is Spec.StepTimeout.
func (r *Rotation) restartStep(name, does, gate, what string, verify func(context.Context, Consumer) error, check func(context.Context) plan.Result) *step {
	return &step{
		name:    name,
		desc:    does + " (again, with backoff, while one still does); gate: " + gate,
		timeout: r.spec.StepTimeout,
		apply: func(ctx context.Context) error {
			return r.restartUntilConverged(ctx, what, func(ctx context.Context, c Consumer) bool { return verify(ctx, c) != nil })
		},
		check: check,
	}
}
