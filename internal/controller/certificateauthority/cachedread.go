package certificateauthority

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
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
// answers, when ctx is not marked withLiveRead, a steady state (no open
// status.rotation and no running worker) and an object at the newest
// resourceVersion this controller wrote or read live (latestRVs: a
// checkpoint save, a status patch, a live readCA). That object is exactly
// what the API held then, as a live read then would have returned it, and
// no older than anything a reconcile computed from before; any later write
// changes the resourceVersion and its watch event reconciles again.
// Everything else — a rotation in flight whose cached object is not that
// version (the cache may lag behind the worker's last checkpoint), an
// object the cache does not have, a reconcile that is going to act
// (Reconcile re-reads live before any action) — is read from the API. So a
// steady-state reconcile of an unchanged object, and the reconcile that
// follows a rotation's own write, send no request.
func (r *Reconciler) readCA(ctx context.Context, key client.ObjectKey, ca *v1alpha1.CertificateAuthority) (live bool, err error) {
	if ctx.Value(liveReadKey{}) == nil {
		err := r.Client.Get(ctx, key, ca)
		switch {
		case err == nil:
			if rot := ca.Status.Rotation; (rot == nil || rot.Outcome != "") && !r.Workers.Running(key) {
				return false, nil
			}
			if r.latest.is(key, ca.ResourceVersion) {
				return false, nil
			}
		case !apierrors.IsNotFound(err):
			return false, err
		}
	}
	*ca = v1alpha1.CertificateAuthority{}
	if err := r.APIReader.Get(ctx, key, ca); err != nil {
		return true, err
	}
	r.latest.saw(key, ca.ResourceVersion)
	return true, nil
}

// latestRVs remembers, per CertificateAuthority, the newest
// resourceVersion this controller wrote (a checkpoint save, a status patch:
// the version the apiserver returned) or read live (readCA). Versions are
// compared as the apiserver defines them (resourceversion.
// CompareResourceVersion), so writes and reads recorded out of order keep
// the newest; a version that does not compare drops the entry (readCA then
// reads live). Safe for concurrent use; the zero value is ready.
type latestRVs struct {
	mu  sync.Mutex
	rvs map[types.NamespacedName]string
}

// saw records resourceVersion of key when it is newer than the recorded one.
func (l *latestRVs) saw(key types.NamespacedName, resourceVersion string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.rvs[key]
	if !ok {
		old = resourceVersion
	}
	cmp, err := resourceversion.CompareResourceVersion(resourceVersion, old)
	switch {
	case err != nil:
		delete(l.rvs, key)
	case cmp >= 0:
		if l.rvs == nil {
			l.rvs = map[types.NamespacedName]string{}
		}
		l.rvs[key] = resourceVersion
	}
}

// is reports whether resourceVersion is the newest recorded for key.
func (l *latestRVs) is(key types.NamespacedName, resourceVersion string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rv, ok := l.rvs[key]
	return ok && rv == resourceVersion
}

// forget drops key (the object was deleted).
func (l *latestRVs) forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.rvs, key)
}
