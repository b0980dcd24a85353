package certificateauthority

import (
	"context"
	"crypto/x509"
	"fmt"
	"math"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// hasSelectorTargets reports whether a spec.trustBundles entry of ca has a
// namespaceSelector.
func hasSelectorTargets(ca *v1alpha1.CertificateAuthority) bool {
	for _, t := range ca.Spec.TrustBundles {
		if t.NamespaceSelector != nil {
			return true
		}
	}
	return false
}

// expandTargets returns ca with every spec.trustBundles entry that has a
// namespaceSelector replaced by one entry per matching namespace (sorted by
// name; terminating namespaces left out), and how many namespaces they
// reach. Without selector entries it returns ca itself. Namespaces are
// read from the manager's cache (watched: a new namespace reconciles the
// CertificateAuthorities that select it, namespaceToCAs). The result is
// what the access and ownership checks, the inventory and the backend see;
// validation ran on ca before (only a ClusterCertificateAuthority's run-as
// object gets here with a selector).
func (r *Reconciler) expandTargets(ctx context.Context, ca *v1alpha1.CertificateAuthority) (*v1alpha1.CertificateAuthority, int32, error) {
	if !hasSelectorTargets(ca) {
		return ca, 0, nil
	}
	list := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil, 0, fmt.Errorf("list namespaces for spec.trustBundles namespaceSelector: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	out := ca.DeepCopy()
	out.Spec.TrustBundles = nil
	reached := map[string]bool{}
	for i, t := range ca.Spec.TrustBundles {
		if t.NamespaceSelector == nil {
			out.Spec.TrustBundles = append(out.Spec.TrustBundles, t)
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil { // validated before; an object stored before the rule
			return nil, 0, fmt.Errorf("spec.trustBundles[%d].namespaceSelector: %w", i, err)
		}
		for _, ns := range list.Items {
			if ns.DeletionTimestamp != nil || !sel.Matches(labels.Set(ns.Labels)) {
				continue
			}
			e := t
			e.NamespaceSelector, e.Namespace = nil, ns.Name
			out.Spec.TrustBundles = append(out.Spec.TrustBundles, e)
			reached[ns.Name] = true
		}
	}
	return out, int32(min(len(reached), math.MaxInt32)), nil
}

// followSelected keeps the targets a namespaceSelector reaches in step
// with the others, so a namespace that appeared (or an object deleted)
// since the last publish gets the bundle within this reconcile:
//
//   - no rotation runs and the active CA is published: every selected target
//     gets the resting bundle (trust.Bundle over the active, previous and
//     retired CAs at rotation.RestingCap); targets already holding it are
//     not written (the backend skips equal content);
//   - a rotation runs: its worker's targets were fixed when it started, so
//     only selected targets that are missing (no object, or no key) are
//     written, with the overlap bundle (the same CAs at maxCAs), which
//     trusts every leaf of the rotation at any step; when the rotation ends
//     the first case brings them to the resting bundle.
func (r *Reconciler) followSelected(ctx context.Context, orig, ca *v1alpha1.CertificateAuthority, cp *managedCopy) error {
	if !hasSelectorTargets(orig) || cp == nil {
		return nil
	}
	rot := ca.Status.Rotation
	rotating := rot != nil && rot.Outcome == ""
	if !rotating && cp.ann(AnnotationPublished) != trust.Fingerprint(cp.active.Cert) {
		return nil
	}
	limit := rotation.RestingCap(maxCAsOf(ca))
	if rotating {
		limit = maxCAsOf(ca)
	}
	in := trust.BundleInput{Active: cp.active.Cert, Now: r.Clock.Now(), MaxCAs: limit}
	if cp.previous != nil && modeOf(ca) == v1alpha1.ModeManaged {
		in.Previous = append([]*x509.Certificate{cp.previous.Cert}, cp.retired...)
	}
	certs, err := trust.Bundle(in)
	if err != nil {
		return fmt.Errorf("trust bundle for namespaceSelector targets: %w", err)
	}
	only := ca.DeepCopy()
	only.Spec.TrustBundles = nil
	only.Spec.Certificates, only.Spec.Consumers, only.Spec.CertManager = nil, nil, nil
	for _, t := range ca.Spec.TrustBundles {
		if !selectedByOrig(orig, t) {
			continue
		}
		if rotating {
			missing, err := r.targetMissing(ctx, t)
			if err != nil {
				return err
			}
			if !missing {
				continue
			}
		}
		only.Spec.TrustBundles = append(only.Spec.TrustBundles, t)
	}
	if len(only.Spec.TrustBundles) == 0 {
		return nil
	}
	b, err := r.NewBackend(r.Client, only, cp.active)
	if err != nil {
		return &problemError{&Problem{ReasonInvalidSpec, "spec.trustBundles", err.Error()}}
	}
	if err := b.PublishTrustBundle(ctx, trust.EncodeCertificates(certs...)); err != nil {
		return fmt.Errorf("publish the trust bundle to namespaceSelector targets: %w", err)
	}
	return nil
}

// targetMissing reports (from the manager's cache) whether target t does
// not exist or lacks its key.
func (r *Reconciler) targetMissing(ctx context.Context, t v1alpha1.TrustBundleTarget) (bool, error) {
	key := types.NamespacedName{Namespace: t.Namespace, Name: t.Name}
	k := keyOr(t.Key, "ca.crt")
	var has bool
	var err error
	if t.Kind == v1alpha1.TargetConfigMap {
		cm := &corev1.ConfigMap{}
		if err = r.Client.Get(ctx, key, cm); err == nil {
			has = cm.Data[k] != ""
		}
	} else {
		s := &corev1.Secret{}
		if err = r.Client.Get(ctx, key, s); err == nil {
			has = len(s.Data[k]) > 0
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read %s %s: %w", t.Kind, key, err)
	}
	return !has, nil
}

// selectedByOrig reports whether the expanded entry t came from a
// namespaceSelector entry of orig (same kind, name and key, and no explicit
// entry naming its namespace).
func selectedByOrig(orig *v1alpha1.CertificateAuthority, t v1alpha1.TrustBundleTarget) bool {
	sel := false
	for _, o := range orig.Spec.TrustBundles {
		same := o.Kind == t.Kind && o.Name == t.Name && o.Key == t.Key
		if !same {
			continue
		}
		if o.NamespaceSelector == nil && nsOr(o.Namespace, orig.Namespace) == t.Namespace {
			return false
		}
		if o.NamespaceSelector != nil {
			sel = true
		}
	}
	return sel
}

// afterAct keeps what every reconcile maintains besides the rotation: the
// managed copy's owner reference (ownCopy) and the namespaceSelector
// targets (followSelected).
func (r *Reconciler) afterAct(ctx context.Context, ca *v1alpha1.CertificateAuthority, w *world) error {
	if err := r.ensureCopyOwner(ctx, ca, w.copy); err != nil {
		return err
	}
	orig := w.orig
	if orig == nil {
		orig = ca
	}
	return r.followSelected(ctx, orig, ca, w.copy)
}
