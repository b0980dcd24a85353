package certificateauthority

import (
	"context"
	"sync"

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

// forget drops the copy of the CertificateAuthority key (it was deleted).
func (c *copyCache) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}
