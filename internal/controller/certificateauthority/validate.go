package certificateauthority

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/kube/validation"
	"github.com/handover-dev/handover/internal/trust"
)

// Condition reasons of bad input (status.conditions[Degraded].reason).
const (
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonNamespaceForbidden: the spec names a namespace other than the
	// object's own (a namespaced CertificateAuthority acts only there).
	ReasonNamespaceForbidden = "NamespaceForbidden"
	// ReasonNotOwned: a Secret or ConfigMap handover would write exists
	// without handover's ownership mark for this object.
	ReasonNotOwned         = "NotOwned"
	ReasonSourceNotFound   = "SourceNotFound"
	ReasonInvalidSource    = "InvalidSource"
	ReasonKeyMismatch      = "KeyMismatch"
	ReasonTargetForbidden  = "TargetForbidden"
	ReasonConsumerNotFound = "ConsumerNotFound"
)

// Problem is one bad-input finding. Reason is a condition reason (the
// Reason* constants), Field the JSON path of the offending field (e.g.
// spec.source.secretRef.name) and Message what is wrong; none carries key
// material.
type Problem struct {
	Reason, Field, Message string
}

// Error returns "field: message".
func (p Problem) Error() string { return p.Field + ": " + p.Message }

// Err returns the problem as an error wrapping ErrBadInput and naming obj.
func (p Problem) Err(obj string) error {
	return fmt.Errorf("%w %s: %s", ErrBadInput, obj, p.Error())
}

// ValidateSpec is the pure check of ca before anything is read or written:
// validation.Scope (reason NamespaceForbidden: a target, leaf Secret or
// consumer outside ca's namespace) first, then validation.Spec (reason
// InvalidSpec). It returns one Problem carrying every error of both checks
// (JoinProblems: the reason of the first failing one), or nil when ca is
// valid.
func ValidateSpec(ca *v1alpha1.CertificateAuthority) *Problem { return validateAs(ca, false) }

// validateAs is ValidateSpec; cluster (the object is a
// ClusterCertificateAuthority's run-as object, ClusterSanctioned) skips
// the namespace scope.
func validateAs(ca *v1alpha1.CertificateAuthority, cluster bool) *Problem {
	var ps []*Problem
	if errs := validation.Scope(ca); len(errs) > 0 && !cluster {
		ps = append(ps, problemOf(ReasonNamespaceForbidden, errs))
	}
	if errs := validation.Spec(ca); len(errs) > 0 {
		ps = append(ps, problemOf(ReasonInvalidSpec, errs))
	}
	return JoinProblems(ps)
}

// problemOf turns errs (at least one) into a Problem: Field is the first
// error's field, Message its detail followed by every further error.
func problemOf(reason string, errs field.ErrorList) *Problem {
	msg := errs[0].ErrorBody()
	for _, e := range errs[1:] {
		msg += "; " + e.Error()
	}
	return &Problem{Reason: reason, Field: errs[0].Field, Message: msg}
}

// ValidateSourceSecret parses the external root of spec.source.secretRef
// from secret (nil = not found) at now. It returns the CA, or a Problem
// naming the field: SourceNotFound (spec.source.secretRef.name),
// InvalidSource for a missing key, malformed PEM or a certificate that is
// not a valid CA (RFC 5280 §4.2.1.9 BasicConstraints, §4.2.1.3 keyCertSign,
// validity), KeyMismatch when the private key is not the certificate's.
// Messages come from internal/trust and never quote key bytes.
func ValidateSourceSecret(ref *v1alpha1.CASecretRef, secret *corev1.Secret, now time.Time) (*trust.CA, *Problem) {
	const base = "spec.source.secretRef"
	certKey, keyKey := keyOr(ref.CertificateKey, corev1.TLSCertKey), keyOr(ref.PrivateKeyKey, corev1.TLSPrivateKeyKey)
	if secret == nil {
		return nil, &Problem{ReasonSourceNotFound, base + ".name", fmt.Sprintf("Secret %q not found", ref.Name)}
	}
	return parseCASecret(secret, certKey, keyKey, base+".certificateKey", base+".privateKeyKey", now)
}

// parseCASecret parses a CA from secret.Data[certKey] and [keyKey]; problems
// name certField or keyField.
func parseCASecret(secret *corev1.Secret, certKey, keyKey, certField, keyField string, now time.Time) (*trust.CA, *Problem) {
	certPEM, ok := secret.Data[certKey]
	if !ok {
		return nil, &Problem{ReasonInvalidSource, certField, fmt.Sprintf("Secret %q has no key %q", secret.Name, certKey)}
	}
	certs, err := trust.ParseCertificates(certPEM)
	if err != nil {
		return nil, &Problem{ReasonInvalidSource, certField, fmt.Sprintf("Secret %q key %q: %v", secret.Name, certKey, err)}
	}
	if err := trust.ValidateCA(certs[0], now); err != nil {
		return nil, &Problem{ReasonInvalidSource, certField, fmt.Sprintf("Secret %q key %q: %v", secret.Name, certKey, err)}
	}
	keyPEM, ok := secret.Data[keyKey]
	if !ok {
		return nil, &Problem{ReasonInvalidSource, keyField, fmt.Sprintf("Secret %q has no key %q (handover needs the CA key to issue leaves and verification probes)", secret.Name, keyKey)}
	}
	if _, err := trust.ParsePrivateKey(keyPEM); err != nil {
		return nil, &Problem{ReasonInvalidSource, keyField, fmt.Sprintf("Secret %q key %q: %v", secret.Name, keyKey, err)}
	}
	ca, err := trust.ParseCA(certPEM, keyPEM, now)
	if err != nil {
		reason := ReasonInvalidSource
		if errors.Is(err, trust.ErrKeyMismatch) {
			reason = ReasonKeyMismatch
		}
		return nil, &Problem{reason, keyField, fmt.Sprintf("Secret %q key %q: %v", secret.Name, keyKey, err)}
	}
	return ca, nil
}

const (
	defaultCADuration  = validation.DefaultCADuration
	defaultRenewBefore = validation.DefaultRenewBefore
	defaultPropagation = 90 * time.Second
	defaultGrace       = time.Hour
)

func durationOr(d *v1alpha1.Duration, def time.Duration) time.Duration { return validation.Or(d, def) }

func nsOr(ns, def string) string { return validation.Namespace(ns, def) }

func keyOr(k, def string) string { return validation.KeyOr(k, def) }
