package etcd

import (
	"context"
	"fmt"
	"strings"
)

// Kinds of EndpointChange.
const (
	// EndpointsEtcd: the etcd voters' client URLs are now Endpoints.
	EndpointsEtcd = "etcd"
	// EndpointsAPIServer: the endpoint name's record now holds Endpoints
	// (the apiserver addresses; the control-plane migration).
	EndpointsAPIServer = "apiserver"
)

// EndpointChange is what an EndpointHook is told: after (or, with Leaving,
// just before) Step, clients of Kind must use Endpoints (etcd client URLs
// or apiserver addresses).
type EndpointChange struct {
	Step      string
	Kind      string
	Endpoints []string
	// Leaving is the member about to be removed (Endpoints leaves it out);
	// nil for a change that removes nobody.
	Leaving *Member
	// Reverted: a rollback makes the change (the plan is undoing a step).
	Reverted bool
	// Transient: clients are steered for the length of a step and steered
	// back after it (off the member being hashed by verify; onto the
	// leader during an unheld transfer). Clients that move slowly (a
	// restart, a DNS record) should ignore these; handover's own probes
	// follow them.
	Transient bool
}

// String is "etcd → http://127.0.0.1:2379,… (after promote/t1)", with
// "before remove/s1" for a removal, and " reverted" or " transient" when
// so.
func (e EndpointChange) String() string {
	when := "after"
	if e.Leaving != nil {
		when = "before"
	}
	s := fmt.Sprintf("%s → %s (%s %s)", e.Kind, strings.Join(e.Endpoints, ","), when, e.Step)
	if e.Reverted {
		s += " reverted"
	}
	if e.Transient {
		s += " transient"
	}
	return s
}

// EndpointHook is told every change of the endpoints clients must use, and
// gates it: an error refuses the change. Where it is called and what a
// refusal does:
//   - after a promotion, and after the leader moved to a target: the step
//     fails with the hook's reason (before the point of no return the plan
//     rolls back);
//   - before each removal (Leaving set, including a rollback's removal of a
//     promoted target): the member stays and the step is retried until its
//     timeout;
//   - transient steering (verify, the unheld leader transfer): the step is
//     retried (verify) or fails (move-leader's Apply, retried by the
//     engine);
//   - after move-leader's revert (Reverted): the revert fails.
//
// It runs again when a resumed run re-checks a step, so it must be
// idempotent. It is called from the plan's goroutine and should return
// within the step's timeout.
type EndpointHook func(ctx context.Context, ch EndpointChange) error

// Hooks chains hooks: each is told in order, and the first error stops the
// chain and is returned. Nil hooks are skipped; with none it returns nil.
func Hooks(hs ...EndpointHook) EndpointHook {
	var out []EndpointHook
	for _, h := range hs {
		if h != nil {
			out = append(out, h)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return func(ctx context.Context, ch EndpointChange) error {
		for _, h := range out {
			if err := h(ctx, ch); err != nil {
				return err
			}
		}
		return nil
	}
}

// Lasting is h told only the changes that last (not Transient): for hooks
// wired to clients that move slowly. Nil h gives nil.
func Lasting(h EndpointHook) EndpointHook {
	if h == nil {
		return nil
	}
	return func(ctx context.Context, ch EndpointChange) error {
		if ch.Transient {
			return nil
		}
		return h(ctx, ch)
	}
}

// tell tells the configured hook about ch (Kind EndpointsEtcd); no hook,
// no error.
func (w *world) tell(ctx context.Context, ch EndpointChange) error {
	if w.cfg.OnEndpoints == nil {
		return nil
	}
	ch.Kind = EndpointsEtcd
	return w.cfg.OnEndpoints(ctx, ch)
}

// refused is a step's failure reason for a refused change.
func refused(ch EndpointChange, err error) string {
	return fmt.Sprintf("endpoint hook refused %s → %s: %v", EndpointsEtcd, strings.Join(ch.Endpoints, ","), err)
}

// hookNote is what a step's description adds when an endpoint hook is set
// and the step tells it the voters after it is done.
func (w *world) hookNote() string {
	if w.cfg.OnEndpoints == nil {
		return ""
	}
	return "; then the endpoint hook is told the voters (a refusal fails the step)"
}
