package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// edit is one object write: mutate applies the owned keys to obj (the
// current object, or a fresh one named name when absent) and reports whether
// anything changed. create=false means an absent object is skipped.
type edit struct {
	field  string
	what   string // "Secret" or "ConfigMap"
	name   types.NamespacedName
	create bool
	// newObj returns an empty object of the right kind (with Type for Secrets).
	newObj func() client.Object
	mutate func(obj client.Object) (changed bool, err error)
}

// pending is an edit resolved against the cluster.
type pending struct {
	e      *edit
	obj    client.Object
	exists bool
}

// apply runs edits all-or-nothing (an existing object without this
// CertificateAuthority's ownership mark, v1alpha1.AnnotationOwner, is
// ErrNotOwned and nothing is written; a created one gets the mark) as far as the API allows: it checks every
// namespace exists, reads every object, computes every change and dry-runs
// every write before the first real write. Unchanged objects are not
// written. Errors name the edit's field.
func (b *Backend) apply(ctx context.Context, edits []edit) error {
	if err := b.checkNamespaces(ctx, edits); err != nil {
		return err
	}
	var todo []pending
	for i := range edits {
		p, changed, err := b.resolve(ctx, &edits[i])
		if err != nil {
			return err
		}
		if changed {
			todo = append(todo, p)
		}
	}
	for _, p := range todo {
		if err := b.write(ctx, p, true); err != nil {
			return err
		}
	}
	for _, p := range todo {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			err := b.write(ctx, p, false)
			if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
				// Someone wrote it since we read it: read, recompute, retry.
				np, changed, rerr := b.resolve(ctx, p.e)
				if rerr != nil {
					return rerr
				}
				if !changed {
					return nil
				}
				p = np
				return apierrors.NewConflict(corev1.Resource(p.e.what), p.e.name.Name, err)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *Backend) checkNamespaces(ctx context.Context, edits []edit) error {
	seen := map[string]bool{}
	for _, e := range edits {
		if seen[e.name.Namespace] {
			continue
		}
		seen[e.name.Namespace] = true
		var ns corev1.Namespace
		err := b.c.Get(ctx, types.NamespacedName{Name: e.name.Namespace}, &ns)
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("%w: %s.namespace: namespace %q not found", ErrNotFound, e.field, e.name.Namespace)
		case err != nil:
			return fmt.Errorf("%s.namespace: get namespace %q: %w", e.field, e.name.Namespace, err)
		case ns.DeletionTimestamp != nil:
			return fmt.Errorf("%w: %s.namespace: namespace %q is terminating", ErrInvalidSpec, e.field, e.name.Namespace)
		}
	}
	return nil
}

func (b *Backend) resolve(ctx context.Context, e *edit) (pending, bool, error) {
	obj := e.newObj()
	err := b.c.Get(ctx, e.name, obj)
	exists := err == nil
	switch {
	case apierrors.IsNotFound(err):
		if !e.create {
			return pending{}, false, nil
		}
		obj = e.newObj()
		obj.SetName(e.name.Name)
		obj.SetNamespace(e.name.Namespace)
	case err != nil:
		return pending{}, false, fmt.Errorf("%s: get %s %s: %w", e.field, e.what, e.name, err)
	}
	if exists {
		if got := obj.GetAnnotations()[v1alpha1.AnnotationOwner]; got != b.owner {
			return pending{}, false, fmt.Errorf("%w: %s: %s %s exists and is not this CertificateAuthority's (annotation %s is %q, want %q); handover adopts no object: pick another name, or set the annotation to hand it over",
				ErrNotOwned, e.field, e.what, e.name, v1alpha1.AnnotationOwner, got, b.owner)
		}
	}
	changed, err := e.mutate(obj)
	if err != nil {
		return pending{}, false, fmt.Errorf("%s: %s %s: %w", e.field, e.what, e.name, err)
	}
	if !exists {
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[v1alpha1.AnnotationOwner] = b.owner
		obj.SetAnnotations(a)
	}
	return pending{e: e, obj: obj, exists: exists}, changed || !exists, nil
}

func (b *Backend) write(ctx context.Context, p pending, dryRun bool) error {
	obj := p.obj
	var opts []client.CreateOption
	var uopts []client.UpdateOption
	verb := "write"
	if dryRun {
		obj = obj.DeepCopyObject().(client.Object)
		opts = append(opts, client.DryRunAll)
		uopts = append(uopts, client.DryRunAll)
		verb = "dry-run write"
	}
	var err error
	if p.exists {
		err = b.c.Update(ctx, obj, uopts...)
	} else {
		err = b.c.Create(ctx, obj, opts...)
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w: %s: %s %s %s: %w", ErrForbidden, p.e.field, verb, p.e.what, p.e.name, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %s %s %s: %w", p.e.field, verb, p.e.what, p.e.name, err)
	}
	return nil
}

// stamp records a publish on obj: AnnotationPublishedAt = now,
// AnnotationBundleHash = hash of bundle.
func stamp(obj client.Object, now time.Time, bundle []byte) {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationPublishedAt] = now.UTC().Format(time.RFC3339Nano)
	a[AnnotationBundleHash] = bundleHash(bundle)
	obj.SetAnnotations(a)
}

func bundleHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
