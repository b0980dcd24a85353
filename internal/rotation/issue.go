package rotation

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/handover-dev/handover/internal/trust"
)

// verifyName is the DNS name of the probe leaves the verifications present.
const verifyName = "handover-verify"

// Issuer returns an IssueFunc that issues each consumer a leaf from ca with
// CommonName and DNS SAN = the consumer's name and both server and client
// usage (RFC 5280 §4.2.1.12), stamped with now().
func Issuer(ca *trust.CA, now func() time.Time) IssueFunc {
	return func(c Consumer) ([]byte, []byte, error) {
		l, err := ca.IssueLeaf(trust.LeafOptions{
			CommonName: c.Name, DNSNames: []string{c.Name},
			Usage: trust.UsageServer | trust.UsageClient,
		}, now())
		if err != nil {
			return nil, nil, fmt.Errorf("issue leaf for %s: %w", c.Name, err)
		}
		return l.ChainPEM, l.KeyPEM, nil
	}
}

// ProbeLeaf issues the leaf the verification handshakes offer: DNS SAN
// "handover-verify", server and client usage, signed by ca.
func ProbeLeaf(ca *trust.CA, now time.Time) (tls.Certificate, error) {
	l, err := ca.IssueLeaf(trust.LeafOptions{
		CommonName: verifyName, DNSNames: []string{verifyName},
		Usage: trust.UsageServer | trust.UsageClient,
	}, now)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue probe leaf: %w", err)
	}
	c, err := tls.X509KeyPair(l.ChainPEM, l.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("probe leaf: %w", err)
	}
	return c, nil
}
