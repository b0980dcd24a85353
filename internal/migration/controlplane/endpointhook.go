package controlplane

import (
	"context"
	"fmt"
	"strings"
	"time"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/plan"
)

// Kinds of EndpointChange.
const (
	// EndpointsAPIServer: the endpoint name's record now holds Endpoints
	// (the apiserver addresses).
	EndpointsAPIServer = etcdmig.EndpointsAPIServer
	// EndpointsEtcd: the etcd voters' client URLs are now Endpoints.
	EndpointsEtcd = etcdmig.EndpointsEtcd
)

// EndpointChange is what an endpoint hook is told; the etcd migration's
// type, so one hook serves both halves.
type EndpointChange = etcdmig.EndpointChange

// EndpointHook is told about every lasting endpoint change and gates it:
// an error fails the step with the hook's reason, and before the point of
// no return the plan rolls back (DNS back to the source, target apiserver
// stopped, added members removed, each removal of a promoted target told
// first). The DNS switch is told here (Kind apiserver); the etcd changes
// (promotions, the leader move, each removal) come from the etcd
// migration's hook (etcdmig.EndpointHook), transient steering left out. It
// runs again when a resumed run re-checks the step, so it must be
// idempotent.
type EndpointHook = etcdmig.EndpointHook

// hooked wraps a step whose Done changes endpoints: once the inner Check is
// Done it asks the hook, and a hook error turns Done into Failed. A Revert
// that succeeded tells the hook too (its error fails the revert). Describe
// and Timeout pass through.
type hooked struct {
	plan.Step
	kind string
	// endpoints returns the endpoints after the step (or after its revert).
	endpoints func(ctx context.Context, reverted bool) ([]string, error)
	hook      EndpointHook
}

func (h *hooked) Check(ctx context.Context) plan.Result {
	r := h.Step.Check(ctx)
	if r.State != plan.CheckDone {
		return r
	}
	eps, err := h.endpoints(ctx, false)
	if err != nil {
		return plan.NotYet("endpoints for the hook: " + err.Error())
	}
	if err := h.hook(ctx, EndpointChange{Step: h.Name(), Kind: h.kind, Endpoints: eps}); err != nil {
		return plan.Failed(fmt.Sprintf("endpoint hook refused %s → %s: %v", h.kind, strings.Join(eps, ","), err))
	}
	return r
}

func (h *hooked) Revert(ctx context.Context) error {
	if err := h.Step.Revert(ctx); err != nil {
		return err
	}
	eps, err := h.endpoints(ctx, true)
	if err != nil {
		return fmt.Errorf("endpoints for the hook: %w", err)
	}
	if err := h.hook(ctx, EndpointChange{Step: h.Name(), Kind: h.kind, Endpoints: eps, Reverted: true}); err != nil {
		return fmt.Errorf("endpoint hook after reverting %s: %w", h.Name(), err)
	}
	return nil
}

func (h *hooked) Describe() string {
	d := ""
	if ds, ok := h.Step.(plan.Describer); ok {
		d = ds.Describe()
	}
	return d + "; then the endpoint hook is told the new " + h.kind + " endpoints and may refuse (rollback)"
}

func (h *hooked) Timeout() time.Duration {
	if t, ok := h.Step.(plan.Timeouter); ok {
		return t.Timeout()
	}
	return 0
}
