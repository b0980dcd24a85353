package certificateauthority

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

type liveReadKey struct{}

// withLiveRead marks ctx so that readCA reads from the API.
func withLiveRead(ctx context.Context) context.Context {
	return context.WithValue(ctx, liveReadKey{}, true)
}

// readCA reads the CertificateAuthority key into ca and reports whether it
// came from the API (live) rather than the manager's cache. The cache
// answers only a steady state: no open status.rotation and no running
// worker, and ctx not marked withLiveRead. Everything else — a rotation in
// flight (status.rotation and the annotations decide its next action, and
// the cache may lag behind the worker's last checkpoint), an object the
// cache does not have, a reconcile that is going to act (Reconcile re-reads
// live before any action) — is read from the API. So a steady-state
// reconcile of an unchanged object sends no request at all.
func (r *Reconciler) readCA(ctx context.Context, key client.ObjectKey, ca *v1alpha1.CertificateAuthority) (live bool, err error) {
	if ctx.Value(liveReadKey{}) == nil {
		err := r.Client.Get(ctx, key, ca)
		switch {
		case err == nil:
			if rot := ca.Status.Rotation; (rot == nil || rot.Outcome != "") && !r.Workers.Running(key) {
				return false, nil
			}
		case !apierrors.IsNotFound(err):
			return false, err
		}
	}
	*ca = v1alpha1.CertificateAuthority{}
	return true, r.APIReader.Get(ctx, key, ca)
}
