package certificateauthority

import (
	"bytes"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

// maxCAsOf is spec.bundlePolicy.maxCAs, or trust.DefaultMaxCAs when unset.
func maxCAsOf(ca *v1alpha1.CertificateAuthority) int {
	if m := int(ca.Spec.BundlePolicy.MaxCAs); m > 0 {
		return m
	}
	return trust.DefaultMaxCAs
}

// parseRetired parses keyRetired of the managed copy (absent: none).
func parseRetired(s *corev1.Secret, field string) ([]*x509.Certificate, *Problem) {
	raw := s.Data[keyRetired]
	if len(raw) == 0 {
		return nil, nil
	}
	certs, err := trust.ParseCertificates(raw)
	if err != nil {
		return nil, &Problem{ReasonInvalidSource, field, fmt.Sprintf("Secret %q key %q: %v", s.Name, keyRetired, err)}
	}
	return certs, nil
}

// setRetired writes certs (newest first) to keyRetired, or removes it.
func setRetired(s *corev1.Secret, certs []*x509.Certificate) {
	if len(certs) == 0 {
		delete(s.Data, keyRetired)
		return
	}
	s.Data[keyRetired] = trust.EncodeCertificates(certs...)
}

// retiredFor is the retired list of a rotation from prev to next under
// maxCAs: the CAs before prev (the copy's previous, then its retired ones,
// newest first), without next and prev, at most maxCAs-2 of them: the
// overlap bundle [next, prev, retired...] then holds at most maxCAs CAs.
func retiredFor(cp *managedCopy, next, prev *trust.CA, maxCAs int) []*x509.Certificate {
	limit := maxCAs - 2
	if limit <= 0 || cp == nil {
		return nil
	}
	var cands []*x509.Certificate
	if cp.previous != nil {
		cands = append(cands, cp.previous.Cert)
	}
	cands = append(cands, cp.retired...)
	var out []*x509.Certificate
	for _, c := range cands {
		if len(out) == limit {
			break
		}
		if bytes.Equal(c.Raw, next.Cert.Raw) || bytes.Equal(c.Raw, prev.Cert.Raw) || containsCert(out, c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if bytes.Equal(x.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// previousInfos is status.previous: the copy's previous CA, then its
// retired ones (no key material).
func previousInfos(cp *managedCopy) []v1alpha1.CAInfo {
	if cp == nil || cp.previous == nil {
		return nil
	}
	out := []v1alpha1.CAInfo{*caInfo(cp.previous)}
	for _, c := range cp.retired {
		out = append(out, *caInfo(&trust.CA{Cert: c}))
	}
	return out
}
