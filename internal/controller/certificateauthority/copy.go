package certificateauthority

import (
	"context"
	"crypto/x509"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

// Annotations and labels, defined in api/v1alpha1 (see there).
const (
	AnnotationRotate           = v1alpha1.AnnotationRotate
	AnnotationRevert           = v1alpha1.AnnotationRevert
	AnnotationPublished        = v1alpha1.AnnotationPublished
	AnnotationPublishedMode    = v1alpha1.AnnotationPublishedMode
	AnnotationSourceSeen       = v1alpha1.AnnotationSourceSeen
	AnnotationRotateHandled    = v1alpha1.AnnotationRotateHandled
	AnnotationRevertHandled    = v1alpha1.AnnotationRevertHandled
	AnnotationTrigger          = v1alpha1.AnnotationTrigger
	AnnotationBundleGeneration = v1alpha1.AnnotationBundleGeneration
	annotationGenerationKey    = v1alpha1.AnnotationBundleGenerationKey
	LabelCertificateAuthority  = v1alpha1.LabelCertificateAuthority
)

// Keys of the managed copy Secret.
const (
	keyPreviousCert = "previous.crt"
	keyPreviousKey  = "previous.key"
	// keyRetired holds the certificates (no keys) of CAs older than the
	// previous one that spec.bundlePolicy.maxCAs keeps in the bundle,
	// newest first (retain.go).
	keyRetired = "retired.crt"
)

// CopySecretName is v1alpha1.CopySecretName.
func CopySecretName(ca *v1alpha1.CertificateAuthority) string { return v1alpha1.CopySecretName(ca) }

// managedCopy is the parsed managed copy Secret.
type managedCopy struct {
	secret           *corev1.Secret
	active, previous *trust.CA
	retired          []*x509.Certificate
}

func (m *managedCopy) ann(k string) string {
	if m == nil || m.secret == nil {
		return ""
	}
	return m.secret.Annotations[k]
}

func (m *managedCopy) generation() int64 {
	g, _ := strconv.ParseInt(m.ann(AnnotationBundleGeneration), 10, 64)
	return g
}

// loadCopy reads and parses the managed copy; (nil, nil, nil) when absent.
// A copy that does not parse is a Problem naming
// spec.source.generate.secretName (generate) or the copy Secret.
func loadCopy(ctx context.Context, r client.Reader, ca *v1alpha1.CertificateAuthority) (*managedCopy, *Problem, error) {
	s := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: ca.Namespace, Name: CopySecretName(ca)}, s)
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read managed copy %s/%s: %w", ca.Namespace, CopySecretName(ca), err)
	}
	field := "spec.source.generate.secretName"
	if ca.Spec.Source.Generate == nil {
		field = "Secret " + s.Name + " (managed copy)"
	}
	if !ownsCopy(ca, s) {
		return nil, &Problem{ReasonNotOwned, field, fmt.Sprintf(
			"Secret %s/%s exists and is not this CertificateAuthority's managed copy (annotation %s is %q, want %q); handover adopts no Secret: pick another secretName, or set the annotation to hand it over",
			s.Namespace, s.Name, v1alpha1.AnnotationOwner, s.Annotations[v1alpha1.AnnotationOwner], v1alpha1.OwnerOf(ca.Namespace, ca.Name))}, nil
	}
	m := &managedCopy{secret: s}
	if len(s.Data[corev1.TLSCertKey]) == 0 {
		return nil, &Problem{ReasonInvalidSource, field, fmt.Sprintf("Secret %q exists but has no %s", s.Name, corev1.TLSCertKey)}, nil
	}
	var p *Problem
	// Validity is not checked here: an expired active CA is renewal's job.
	if m.active, p = parseAt(s, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, field); p != nil {
		return nil, p, nil
	}
	if len(s.Data[keyPreviousCert]) > 0 {
		if m.previous, p = parseAt(s, keyPreviousCert, keyPreviousKey, field); p != nil {
			return nil, p, nil
		}
	}
	if m.retired, p = parseRetired(s, field); p != nil {
		return nil, p, nil
	}
	return m, nil, nil
}

// ownsCopy reports whether s carries ca's ownership mark: annotation
// v1alpha1.AnnotationOwner naming ca, or (a copy written before the
// annotation existed) no such annotation and label
// v1alpha1.LabelCertificateAuthority = ca's name.
func ownsCopy(ca *v1alpha1.CertificateAuthority, s *corev1.Secret) bool {
	if owner, ok := s.Annotations[v1alpha1.AnnotationOwner]; ok {
		return owner == v1alpha1.OwnerOf(ca.Namespace, ca.Name)
	}
	return s.Labels[LabelCertificateAuthority] == ca.Name
}

// parseAt parses a CA from secret at its own notBefore (constraints and key
// match only).
func parseAt(s *corev1.Secret, certKey, keyKey, field string) (*trust.CA, *Problem) {
	certs, err := trust.ParseCertificates(s.Data[certKey])
	if err != nil {
		return nil, &Problem{ReasonInvalidSource, field, fmt.Sprintf("Secret %q key %q: %v", s.Name, certKey, err)}
	}
	return parseCASecret(s, certKey, keyKey, field, field, certs[0].NotBefore)
}

// copyUpdate is one change of the managed copy.
type copyUpdate struct {
	active, previous *trust.CA // nil previous removes it
	setCA            bool
	annotations      map[string]string
	bumpGeneration   string // idempotency key; "" = no bump
	// setRetired replaces keyRetired with retired (none: removed).
	setRetired bool
	retired    []*x509.Certificate
}

// writeCopy creates or updates the managed copy with u (optimistic
// concurrency on update). It returns the written Secret.
func writeCopy(ctx context.Context, c client.Client, ca *v1alpha1.CertificateAuthority, cur *corev1.Secret, u copyUpdate) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if cur != nil {
		s = cur.DeepCopy()
	} else {
		s.Name, s.Namespace, s.Type = CopySecretName(ca), ca.Namespace, corev1.SecretTypeOpaque
		s.Labels = map[string]string{LabelCertificateAuthority: ca.Name}
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if u.setCA {
		s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey] = u.active.CertPEM, u.active.KeyPEM
		if u.previous != nil {
			s.Data[keyPreviousCert], s.Data[keyPreviousKey] = u.previous.CertPEM, u.previous.KeyPEM
		} else {
			delete(s.Data, keyPreviousCert)
			delete(s.Data, keyPreviousKey)
		}
	}
	if u.setRetired {
		setRetired(s, u.retired)
	}
	for k, v := range u.annotations {
		s.Annotations[k] = v
	}
	ownCopy(ca, s)
	s.Annotations[v1alpha1.AnnotationOwner] = v1alpha1.OwnerOf(ca.Namespace, ca.Name)
	if u.bumpGeneration != "" && s.Annotations[annotationGenerationKey] != u.bumpGeneration {
		g, _ := strconv.ParseInt(s.Annotations[AnnotationBundleGeneration], 10, 64)
		s.Annotations[AnnotationBundleGeneration] = strconv.FormatInt(g+1, 10)
		s.Annotations[annotationGenerationKey] = u.bumpGeneration
	}
	var err error
	if cur == nil {
		err = c.Create(ctx, s)
	} else {
		err = c.Update(ctx, s)
	}
	if err != nil {
		// The apiserver's error names the object, never its data.
		return nil, fmt.Errorf("write managed copy %s/%s: %w", s.Namespace, s.Name, err)
	}
	return s, nil
}

// caInfo describes a CA for status (no key material).
func caInfo(ca *trust.CA) *v1alpha1.CAInfo {
	if ca == nil {
		return nil
	}
	return &v1alpha1.CAInfo{Subject: ca.Cert.Subject.String(), Fingerprint: trust.Fingerprint(ca.Cert), NotAfter: metav1.NewTime(ca.Cert.NotAfter)}
}
