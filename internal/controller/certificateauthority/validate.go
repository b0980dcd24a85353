package certificateauthority

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

// Condition reasons of bad input (status.conditions[Degraded].reason).
const (
	ReasonInvalidSpec      = "InvalidSpec"
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

// ValidateSpec checks what the CRD's OpenAPI/CEL rules cannot: positive
// durations, renewBefore shorter than duration, bundlePolicy.maxCAs of at
// least 2 in Managed mode (a staged rotation's bundle holds [new,
// previous]; it never holds more, so larger values change nothing),
// parseable IP addresses and
// URIs, a leaf with at least one name, no target written twice, no target
// that is the source Secret or the managed copy, and valid label selectors.
// It is pure and returns the problems in field order (nil when valid).
func ValidateSpec(ca *v1alpha1.CertificateAuthority) []Problem {
	var ps []Problem
	add := func(reason, field, format string, args ...any) {
		ps = append(ps, Problem{Reason: reason, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	s := ca.Spec
	positive := func(field string, d *metav1.Duration) {
		if d != nil && d.Duration <= 0 {
			add(ReasonInvalidSpec, field, "must be positive, got %s", d.Duration)
		}
	}
	positive("spec.propagationTimeout", s.PropagationTimeout)
	if s.GracePeriod != nil && s.GracePeriod.Duration < 0 {
		add(ReasonInvalidSpec, "spec.gracePeriod", "must not be negative, got %s", s.GracePeriod.Duration)
	}
	if s.BundlePolicy.MaxCAs == 1 && s.Mode != v1alpha1.ModeLegacy {
		add(ReasonInvalidSpec, "spec.bundlePolicy.maxCAs", "1 leaves no room for the [new, previous] overlap a Managed rotation publishes; use 2 or more, or mode Legacy")
	}
	protected := map[objectKey]string{}
	switch {
	case s.Source.Generate != nil:
		g := s.Source.Generate
		positive("spec.source.generate.duration", g.Duration)
		positive("spec.source.generate.renewBefore", g.RenewBefore)
		if d, r := durationOr(g.Duration, defaultCADuration), durationOr(g.RenewBefore, defaultRenewBefore); r >= d {
			add(ReasonInvalidSpec, "spec.source.generate.renewBefore", "%s must be shorter than duration %s", r, d)
		}
	case s.Source.SecretRef != nil:
		if s.Source.SecretRef.Name == CopySecretName(ca) {
			add(ReasonInvalidSpec, "spec.source.secretRef.name", "%q is the managed copy handover writes; name the external root", s.Source.SecretRef.Name)
		}
		protected[objectKey{"Secret", ca.Namespace, s.Source.SecretRef.Name}] = "the source Secret (spec.source.secretRef.name)"
	default:
		add(ReasonInvalidSpec, "spec.source", "set exactly one of generate or secretRef")
	}
	protected[objectKey{"Secret", ca.Namespace, CopySecretName(ca)}] = "the managed copy of the CA (it holds the CA key)"

	seen := map[objectKey]string{}
	for i, t := range s.TrustBundles {
		field := fmt.Sprintf("spec.trustBundles[%d]", i)
		k := objectKey{string(t.Kind), nsOr(t.Namespace, ca.Namespace), t.Name}
		if what, ok := protected[k]; ok {
			add(ReasonInvalidSpec, field+".name", "%s %s/%s is %s", t.Kind, k.ns, k.name, what)
		}
		withKey := k
		withKey.name += "/" + keyOr(t.Key, "ca.crt")
		if prev, ok := seen[withKey]; ok {
			add(ReasonInvalidSpec, field, "writes the same %s key as %s", t.Kind, prev)
		}
		seen[withKey] = field
	}
	for i, c := range s.Certificates {
		field := fmt.Sprintf("spec.certificates[%d]", i)
		k := objectKey{"Secret", nsOr(c.Namespace, ca.Namespace), c.SecretName}
		if what, ok := protected[k]; ok {
			add(ReasonInvalidSpec, field+".secretName", "Secret %s/%s is %s", k.ns, k.name, what)
		}
		for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
			kk := k
			kk.name += "/" + key
			if prev, ok := seen[kk]; ok {
				add(ReasonInvalidSpec, field+".secretName", "key %s is also written by %s", key, prev)
			}
			seen[kk] = field
		}
		if c.CommonName == "" && len(c.DNSNames) == 0 && len(c.IPAddresses) == 0 && len(c.URIs) == 0 {
			add(ReasonInvalidSpec, field, "needs at least one of commonName, dnsNames, ipAddresses or uris")
		}
		for j, ip := range c.IPAddresses {
			if net.ParseIP(ip) == nil {
				add(ReasonInvalidSpec, fmt.Sprintf("%s.ipAddresses[%d]", field, j), "%q is not an IP address", ip)
			}
		}
		for j, u := range c.URIs {
			if pu, err := url.Parse(u); err != nil || pu.Scheme == "" {
				add(ReasonInvalidSpec, fmt.Sprintf("%s.uris[%d]", field, j), "%q is not an absolute URI", u)
			}
		}
		positive(field+".duration", c.Duration)
	}
	for i, c := range s.Consumers {
		if c.Selector != nil {
			if _, err := metav1.LabelSelectorAsSelector(c.Selector); err != nil {
				add(ReasonInvalidSpec, fmt.Sprintf("spec.consumers[%d].selector", i), "%v", err)
			}
		}
	}
	return ps
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

type objectKey struct{ kind, ns, name string }

const (
	defaultCADuration  = 8760 * time.Hour
	defaultRenewBefore = 720 * time.Hour
	defaultPropagation = 90 * time.Second
	defaultGrace       = time.Hour
)

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration == 0 {
		return def
	}
	return d.Duration
}

func nsOr(ns, def string) string {
	if ns == "" {
		return def
	}
	return ns
}

func keyOr(k, def string) string {
	if k == "" {
		return def
	}
	return k
}
