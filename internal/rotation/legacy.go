package rotation

import (
	"context"
	"fmt"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/trust"
)

// atomicPlan is the pre-fix certgen (envoyproxy/gateway#4891): the CA and
// every leaf are replaced at once, load-once consumers restarted right
// after. Nothing is verified and nothing can be reverted.
func (r *Rotation) atomicPlan() *plan.Plan {
	return &plan.Plan{
		Name: "rotate-trust-atomic",
		Steps: []plan.Step{
			r.publishAllAtOnceStep("replace-ca-and-leaves",
				"write bundle [new] and leaves from the new CA to every consumer at once"),
			r.restartLoadOnceStep("restart-load-once", "restart every load-once consumer (rolling)"),
		},
		PointOfNoReturn: 0,
	}
}

// bundlePlan is envoyproxy/gateway#8534 + #8535: the bundle [new, previous]
// and the new leaves are written at once, then load-once consumers get a
// rolling restart. Nothing is verified.
func (r *Rotation) bundlePlan() *plan.Plan {
	return &plan.Plan{
		Name: "rotate-trust-bundle",
		Steps: []plan.Step{
			r.publishAllAtOnceStep("bundle-ca-and-replace-leaves",
				"write bundle [new, previous] and leaves from the new CA to every consumer at once",
				r.spec.Old),
			r.restartLoadOnceStep("rolling-restart-load-once", "rolling restart of every load-once consumer"),
		},
		PointOfNoReturn: 0,
	}
}

// publishAllAtOnceStep publishes the bundle [new, previous...] and leaves
// from the new CA in one step, with no gate and no revert.
func (r *Rotation) publishAllAtOnceStep(name, desc string, previous ...*trust.CA) *step {
	return &step{
		name: name,
		desc: desc,
		apply: func(ctx context.Context) error {
			bundle, err := r.bundlePEM(r.spec.New, previous...)
			if err != nil {
				return err
			}
			if err := r.spec.Backend.PublishTrustBundle(ctx, bundle); err != nil {
				return fmt.Errorf("publish bundle: %w", err)
			}
			return r.publishLeaves(ctx)
		},
		check: done,
	}
}

func (r *Rotation) restartLoadOnceStep(name, desc string) *step {
	return &step{
		name: name,
		desc: desc,
		apply: func(ctx context.Context) error {
			return r.restartLoadOnce(ctx, func(context.Context, Consumer) bool { return true })
		},
		check: done,
	}
}
