package certificateauthority

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// copyCache keeps the last parsed managed copy of each CertificateAuthority
// with its resourceVersion, so a reconcile of an unchanged object neither
// reads the Secret's data from the API nor parses its keys again. A parsed
// copy is reused only while the metadata-only informer shows the same
// resourceVersion (the apiserver changes it on every write), so a stale
// informer can only cause a fresh read, never a stale copy. Safe for
// concurrent use; the zero value is ready.
type copyCache struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]*managedCopy
}

// load returns ca's managed copy like loadCopy(ctx, live, ca), answered
// from the cache when meta (the metadata-only cache) shows the cached
// resourceVersion.
func (c *copyCache) load(ctx context.Context, meta, live client.Reader, ca *v1alpha1.CertificateAuthority) (*managedCopy, *Problem, error) {
	key := types.NamespacedName{Namespace: ca.Namespace, Name: ca.Name}
	m := metadataOf(v1alpha1.TargetSecret)
	err := meta.Get(ctx, types.NamespacedName{Namespace: ca.Namespace, Name: CopySecretName(ca)}, m)
	switch {
	case err == nil:
		c.mu.Lock()
		hit := c.entries[key]
		c.mu.Unlock()
		if hit != nil && hit.secret.Name == m.Name && hit.secret.ResourceVersion == m.ResourceVersion && ownsCopy(ca, hit.secret) {
			return hit, nil, nil
		}
	case !apierrors.IsNotFound(err):
		return nil, nil, err
	}
	return c.read(ctx, live, ca)
}

// read is loadCopy(ctx, live, ca) that records the copy it read (or drops
// the recorded one when there is none usable).
func (c *copyCache) read(ctx context.Context, live client.Reader, ca *v1alpha1.CertificateAuthority) (*managedCopy, *Problem, error) {
	key := types.NamespacedName{Namespace: ca.Namespace, Name: ca.Name}
	cp, p, err := loadCopy(ctx, live, ca)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[types.NamespacedName]*managedCopy{}
	}
	if cp != nil && p == nil && err == nil {
		c.entries[key] = cp
	} else {
		delete(c.entries, key)
	}
	return cp, p, err
}

// cached returns the copy of ca that load or store recorded last, nil when
// none (or not ca's copy by name and owner). It may be stale: it is only a
// base for a write with optimistic concurrency (writeCopy), which fails
// with a Conflict when the copy changed since, and callers then read it
// live; a decision not to write is never taken on it.
func (c *copyCache) cached(ca *v1alpha1.CertificateAuthority) *managedCopy {
	c.mu.Lock()
	hit := c.entries[types.NamespacedName{Namespace: ca.Namespace, Name: ca.Name}]
	c.mu.Unlock()
	if hit == nil || hit.secret.Name != CopySecretName(ca) || !ownsCopy(ca, hit.secret) {
		return nil
	}
	return hit
}

// store records cp, the copy as this controller just wrote it (the Secret
// the apiserver returned, with its new resourceVersion), as ca's copy.
func (c *copyCache) store(ca *v1alpha1.CertificateAuthority, cp *managedCopy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[types.NamespacedName]*managedCopy{}
	}
	c.entries[types.NamespacedName{Namespace: ca.Namespace, Name: ca.Name}] = cp
}

// withSecret is m with s, a write of m's Secret that changed annotations
// only (same keys, so the parsed CAs stay m's).
func (m *managedCopy) withSecret(s *corev1.Secret) *managedCopy {
	return &managedCopy{secret: s, active: m.active, previous: m.previous, retired: m.retired}
}

// forget drops the copy of the CertificateAuthority key (it was deleted).
func (c *copyCache) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}
