package certificateauthority

import (
	"context"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// cert-manager's Certificate API (cert-manager.io/v1), used unstructured:
// handover does not link cert-manager.
var (
	certificateGVK     = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
	certificateListGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "CertificateList"}
)

// cert-manager's Issuing condition and the reason `cmctl renew` sets.
const (
	cmConditionIssuing    = "Issuing"
	cmReasonManual        = "ManuallyTriggered"
	cmMessageManual       = "Certificate re-issuance triggered by handover: its CA changed"
	issuerSecretSuffix    = "-handover-issuer"
	fieldCertManager      = "spec.certManager"
	fieldCertManagerNames = "spec.certManager.certificates"
)

// IssuerSecretName is the Secret a cert-manager CA Issuer reads for ca:
// spec.certManager.issuerSecretName, default "<name>-handover-issuer".
func IssuerSecretName(ca *v1alpha1.CertificateAuthority) string {
	if cm := ca.Spec.CertManager; cm != nil && cm.IssuerSecretName != "" {
		return cm.IssuerSecretName
	}
	return ca.Name + issuerSecretSuffix
}

// cmCertificate is one selected cert-manager Certificate.
type cmCertificate struct {
	obj        *unstructured.Unstructured
	secretName string
}

func (c cmCertificate) ref() string { return c.obj.GetNamespace() + "/" + c.obj.GetName() }

// certManagerCertificates reads the Certificates spec.certManager selects
// in ca's namespace, uncached, sorted by name. A named one that does not
// exist, or cert-manager's CRDs missing, is an error naming the field.
func certManagerCertificates(ctx context.Context, r client.Reader, ca *v1alpha1.CertificateAuthority) ([]cmCertificate, error) {
	cm := ca.Spec.CertManager
	if cm == nil {
		return nil, nil
	}
	seen := map[string]*unstructured.Unstructured{}
	for _, name := range cm.Certificates {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(certificateGVK)
		if err := r.Get(ctx, types.NamespacedName{Namespace: ca.Namespace, Name: name}, u); err != nil {
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				return nil, &problemError{&Problem{ReasonConsumerNotFound, fieldCertManagerNames, fmt.Sprintf("cert-manager Certificate %s/%s: %v", ca.Namespace, name, err)}}
			}
			return nil, fmt.Errorf("read cert-manager Certificate %s/%s: %w", ca.Namespace, name, err)
		}
		seen[name] = u
	}
	if cm.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(cm.Selector)
		if err != nil {
			return nil, &problemError{&Problem{ReasonInvalidSpec, fieldCertManager + ".selector", err.Error()}}
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(certificateListGVK)
		if err := r.List(ctx, list, client.InNamespace(ca.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			if meta.IsNoMatchError(err) {
				return nil, &problemError{&Problem{ReasonConsumerNotFound, fieldCertManager + ".selector", "cert-manager's Certificate API (cert-manager.io/v1) is not installed"}}
			}
			return nil, fmt.Errorf("list cert-manager Certificates in %s: %w", ca.Namespace, err)
		}
		for i := range list.Items {
			seen[list.Items[i].GetName()] = &list.Items[i]
		}
	}
	out := make([]cmCertificate, 0, len(seen))
	for _, u := range seen {
		name, _, _ := unstructured.NestedString(u.Object, "spec", "secretName")
		out = append(out, cmCertificate{obj: u, secretName: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].obj.GetName() < out[j].obj.GetName() })
	return out, nil
}

// leafOf returns the first certificate of Secret ns/name's tls.crt; nil
// when the Secret or the key is absent or does not parse.
func leafOf(ctx context.Context, r client.Reader, ns, name string) (*x509.Certificate, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read Secret %s/%s: %w", ns, name, err)
	}
	certs, err := trust.ParseCertificates(s.Data[corev1.TLSCertKey])
	if err != nil {
		return nil, nil
	}
	return certs[0], nil
}

// issuing reports whether u's Issuing condition is True.
func issuing(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == cmConditionIssuing && m["status"] == "True" {
			return true
		}
	}
	return false
}

// renew triggers re-issuance of u the way `cmctl renew` does: condition
// Issuing=True (reason ManuallyTriggered, observedGeneration = the
// Certificate's generation) written with an update of the status
// subresource; cert-manager's trigger controller then issues a new
// CertificateRequest. A Certificate already issuing is left alone.
func renew(ctx context.Context, c client.Client, u *unstructured.Unstructured, now time.Time) error {
	if issuing(u) {
		return nil
	}
	u = u.DeepCopy()
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	cond := map[string]any{
		"type": cmConditionIssuing, "status": "True", "reason": cmReasonManual, "message": cmMessageManual,
		"lastTransitionTime": now.UTC().Format(time.RFC3339), "observedGeneration": u.GetGeneration(),
	}
	replaced := false
	for i, x := range conds {
		if m, ok := x.(map[string]any); ok && m["type"] == cmConditionIssuing {
			conds[i], replaced = cond, true
		}
	}
	if !replaced {
		conds = append(conds, cond)
	}
	if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
		return err
	}
	if err := c.Status().Update(ctx, u); err != nil {
		return fmt.Errorf("trigger re-issuance of cert-manager Certificate %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// reissue triggers re-issuance (renew) of every selected Certificate whose
// Secret does not hold a leaf signed by issuer, and returns those still
// waiting ("" when none). It is the gate of the switch-leaves step
// (rotation.Spec.LeavesIssued) and runs after every leaf publish: a
// Certificate whose issuance finished with the previous CA (it raced the
// switch) is triggered again.
func reissue(ctx context.Context, c client.Client, r client.Reader, ca *v1alpha1.CertificateAuthority, issuer *x509.Certificate, now time.Time) (string, error) {
	certs, err := certManagerCertificates(ctx, r, ca)
	if err != nil {
		return "", err
	}
	var waiting []string
	for _, cm := range certs {
		leaf, err := leafOf(ctx, r, ca.Namespace, cm.secretName)
		if err != nil {
			return "", err
		}
		if leaf != nil && leaf.CheckSignatureFrom(issuer) == nil {
			continue
		}
		if err := renew(ctx, c, cm.obj, now); err != nil {
			return "", err
		}
		waiting = append(waiting, fmt.Sprintf("%s (Secret %s)", cm.ref(), cm.secretName))
	}
	if len(waiting) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d cert-manager Certificate(s) not yet re-issued by CA %s: %s",
		len(waiting), trust.Fingerprint(issuer), strings.Join(waiting, ", ")), nil
}

// certManagerGate is rotation.Spec.LeavesIssued for ca whose leaves come
// from issuer; nil without spec.certManager.
func (r *Reconciler) certManagerGate(ca *v1alpha1.CertificateAuthority, issuer *trust.CA) func(context.Context) (string, error) {
	if ca.Spec.CertManager == nil {
		return nil
	}
	ca = ca.DeepCopy()
	return func(ctx context.Context) (string, error) {
		return reissue(ctx, r.Client, r.APIReader, ca, issuer.Cert, r.Clock.Now())
	}
}

// leavesInUse is rotation.Spec.InUse for ca: the leaves now in the Secrets
// of spec.certificates and of the selected cert-manager Certificates.
func (r *Reconciler) leavesInUse(ca *v1alpha1.CertificateAuthority) func(context.Context) ([]*x509.Certificate, error) {
	ca = ca.DeepCopy()
	return func(ctx context.Context) ([]*x509.Certificate, error) {
		var out []*x509.Certificate
		add := func(ns, name string) error {
			leaf, err := leafOf(ctx, r.APIReader, ns, name)
			if leaf != nil {
				out = append(out, leaf)
			}
			return err
		}
		for _, c := range ca.Spec.Certificates {
			if err := add(nsOr(c.Namespace, ca.Namespace), c.SecretName); err != nil {
				return nil, err
			}
		}
		certs, err := certManagerCertificates(ctx, r.APIReader, ca)
		if err != nil {
			return nil, err
		}
		for _, cm := range certs {
			if err := add(ca.Namespace, cm.secretName); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

// writeIssuerSecret creates or updates ca's issuer Secret (IssuerSecretName:
// tls.crt, tls.key and ca.crt of issuer, type kubernetes.io/tls) with
// handover's ownership mark and ca's owner reference (ownCopy). An existing
// Secret without the mark is ErrNotOwned-like bad input (NotOwned).
func writeIssuerSecret(ctx context.Context, c client.Client, ca *v1alpha1.CertificateAuthority, issuer *trust.CA) error {
	name := IssuerSecretName(ca)
	s := &corev1.Secret{}
	err := c.Get(ctx, types.NamespacedName{Namespace: ca.Namespace, Name: name}, s)
	exists := err == nil
	switch {
	case apierrors.IsNotFound(err):
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ca.Namespace, Name: name}, Type: corev1.SecretTypeTLS}
	case err != nil:
		return fmt.Errorf("read issuer Secret %s/%s: %w", ca.Namespace, name, err)
	}
	want := v1alpha1.OwnerOf(ca.Namespace, ca.Name)
	if exists && s.Annotations[v1alpha1.AnnotationOwner] != want {
		return &problemError{&Problem{ReasonNotOwned, fieldCertManager + ".issuerSecretName", fmt.Sprintf(
			"Secret %s/%s exists and is not this CertificateAuthority's (annotation %s is %q, want %q); handover adopts no Secret",
			ca.Namespace, name, v1alpha1.AnnotationOwner, s.Annotations[v1alpha1.AnnotationOwner], want)}}
	}
	changed := ownCopy(ca, s)
	if string(s.Data[corev1.TLSCertKey]) != string(issuer.CertPEM) || string(s.Data[corev1.TLSPrivateKeyKey]) != string(issuer.KeyPEM) {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey], s.Data["ca.crt"] = issuer.CertPEM, issuer.KeyPEM, issuer.CertPEM
		changed = true
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if s.Annotations[v1alpha1.AnnotationOwner] != want {
		s.Annotations[v1alpha1.AnnotationOwner] = want
		changed = true
	}
	switch {
	case !exists:
		err = c.Create(ctx, s)
	case changed:
		err = c.Update(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("write issuer Secret %s/%s: %w", ca.Namespace, name, err)
	}
	return nil
}

// certManagerBackend adds cert-manager leaves to a rotation.Backend: its
// PublishLeaves points the issuer Secret at the CA that issues now and
// triggers re-issuance of the Certificates whose leaf it did not sign.
type certManagerBackend struct {
	rotation.Backend
	c      client.Client
	ca     *v1alpha1.CertificateAuthority
	issuer *trust.CA
	now    func() time.Time
}

// PublishLeaves writes the issuer Secret, then handover's own leaves, then
// triggers the cert-manager re-issuance; the switch-leaves gate
// (certManagerGate) waits for it.
func (b *certManagerBackend) PublishLeaves(ctx context.Context, issue rotation.IssueFunc) error {
	if err := writeIssuerSecret(ctx, b.c, b.ca, b.issuer); err != nil {
		return err
	}
	if err := b.Backend.PublishLeaves(ctx, issue); err != nil {
		return err
	}
	_, err := reissue(ctx, b.c, b.c, b.ca, b.issuer.Cert, b.now())
	return err
}

// withCertManager wraps inner when ca names cert-manager Certificates.
func withCertManager(c client.Client, ca *v1alpha1.CertificateAuthority, issuer *trust.CA, now func() time.Time, inner rotation.Backend) rotation.Backend {
	if ca.Spec.CertManager == nil {
		return inner
	}
	return &certManagerBackend{Backend: inner, c: c, ca: ca.DeepCopy(), issuer: issuer, now: now}
}

// checkCertManager asks (r.Access: SelfSubjectAccessReviews, cached like
// the targets') whether the controller may read cert-manager Certificates
// in ca's namespace and update their status (the renew trigger); a denial
// is TargetForbidden naming spec.certManager.
func (r *Reconciler) checkCertManager(ctx context.Context, ca *v1alpha1.CertificateAuthority) (*Problem, error) {
	if ca.Spec.CertManager == nil {
		return nil, nil
	}
	for _, k := range []AccessKey{
		{Namespace: ca.Namespace, Verb: "get", Group: "cert-manager.io", Resource: "certificates"},
		{Namespace: ca.Namespace, Verb: "list", Group: "cert-manager.io", Resource: "certificates"},
		{Namespace: ca.Namespace, Verb: "update", Group: "cert-manager.io", Resource: "certificates", Subresource: "status"},
	} {
		allowed, err := r.Access.Allowed(ctx, k)
		if err != nil {
			return nil, err
		}
		if !allowed {
			what := "certificates"
			if k.Subresource != "" {
				what += "/" + k.Subresource
			}
			return &Problem{ReasonTargetForbidden, fieldCertManager, fmt.Sprintf("the controller may not %s cert-manager.io %s in namespace %q", k.Verb, what, ca.Namespace)}, nil
		}
	}
	if _, err := certManagerCertificates(ctx, r.APIReader, ca); err != nil {
		var p *Problem
		if asProblem(err, &p) {
			return p, nil
		}
		return nil, err
	}
	return nil, nil
}
