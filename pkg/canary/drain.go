package canary

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Labels of the drain handshake (the same keys as handover's
// api/v1alpha1.LabelDrain and LabelDrainAck): handover sets LabelDrain to
// the revision an object is being handed to; the owning revision, once it
// stopped reconciling the object, sets LabelDrainAck to its own name; then
// handover changes the owner. The ControllerCanary enables it with
// spec.stable.acknowledgesDrain.
const (
	LabelDrain    = "handover.dev/drain"
	LabelDrainAck = "handover.dev/drain-ack"
)

// Draining reports whether obj is being handed away from r: it carries
// LabelDrain naming another revision.
func (r Revision) Draining(obj client.Object) bool {
	to := obj.GetLabels()[LabelDrain]
	return to != "" && to != r.Name
}

// Acknowledge labels obj LabelDrainAck=r.Name with a merge patch (no-op when
// it already is): r let go of obj and will not write it again. Errors: the
// patch (a NotFound is not an error: a deleted object needs no hand-over).
func (r Revision) Acknowledge(ctx context.Context, c client.Client, obj client.Object) error {
	if obj.GetLabels()[LabelDrainAck] == r.Name {
		return nil
	}
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, LabelDrainAck, r.Name)
	if err := c.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", patch)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("acknowledge drain of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// WithDrain wraps next, the reconciler of the main objects (newObj returns
// an empty one, e.g. func() client.Object { return &Route{} }): a request
// for an object that is Draining away from r is acknowledged instead of
// reconciled, and never reconciled again by this process while the drain
// label stays. controller-runtime runs one reconcile per object at a time,
// so when the acknowledgement is written no reconcile of the object is in
// flight: handover moves it only after r let go.
func WithDrain(c client.Client, r Revision, newObj func() client.Object, next reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		obj := newObj()
		if err := c.Get(ctx, req.NamespacedName, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return next.Reconcile(ctx, req)
			}
			return reconcile.Result{}, err
		}
		if r.Draining(obj) {
			return reconcile.Result{}, r.Acknowledge(ctx, c, obj)
		}
		return next.Reconcile(ctx, req)
	})
}
