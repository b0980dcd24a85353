package certificateauthority

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// ownCopy makes s (the managed copy or the cert-manager issuer Secret, both
// holding CA keys) carry ca's owner reference, so the garbage collector
// deletes it with ca, or drops that reference when spec.retainManagedCopy
// is set. It reports whether it changed s. No blockOwnerDeletion: deleting
// ca never waits on its Secrets. An object without a UID (not stored yet)
// is left alone.
func ownCopy(ca *v1alpha1.CertificateAuthority, s *corev1.Secret) bool {
	if ca.UID == "" {
		return false
	}
	refs := s.OwnerReferences[:0:0]
	found := false
	for _, ref := range s.OwnerReferences {
		if ref.UID == ca.UID {
			found = true
			if ca.Spec.RetainManagedCopy {
				continue
			}
		}
		refs = append(refs, ref)
	}
	switch {
	case ca.Spec.RetainManagedCopy && found:
		s.OwnerReferences = refs
		return true
	case !ca.Spec.RetainManagedCopy && !found:
		s.OwnerReferences = append(refs, metav1.OwnerReference{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: "CertificateAuthority",
			Name: ca.Name, UID: ca.UID, Controller: ptr.To(true),
		})
		return true
	}
	return false
}

// ensureCopyOwner brings the owner reference of an existing managed copy
// (written before this rule, or spec.retainManagedCopy changed) in line
// with ownCopy; a no-op when it already is.
func (r *Reconciler) ensureCopyOwner(ctx context.Context, ca *v1alpha1.CertificateAuthority, cp *managedCopy) error {
	if cp == nil || cp.secret == nil {
		return nil
	}
	s := cp.secret.DeepCopy()
	if !ownCopy(ca, s) {
		return nil
	}
	if err := r.Client.Update(ctx, s); err != nil {
		return fmt.Errorf("set owner of managed copy %s/%s: %w", s.Namespace, s.Name, err)
	}
	cp.secret = s
	return nil
}
