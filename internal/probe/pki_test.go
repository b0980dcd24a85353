package probe

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/trust"
)

// testCA is a CA issued by internal/trust, the issuer handover itself uses.
type testCA struct{ ca *trust.CA }

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	now := time.Now()
	// Backdated so an expired leaf (see leafOpts) still falls in its validity.
	ca, err := trust.NewCA(trust.CAOptions{CommonName: cn, NotBefore: now.Add(-3 * time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{ca: ca}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.ca.Cert)
	return p
}

type leafOpts struct {
	client  bool
	expired bool // valid for the hour that ended an hour ago
}

// leaf issues a server (for 127.0.0.1 and "localhost") or client
// certificate, valid for an hour.
func (ca *testCA) leaf(t *testing.T, o leafOpts) *tls.Certificate {
	t.Helper()
	opts := trust.LeafOptions{CommonName: "leaf", Validity: time.Hour, Usage: trust.UsageServer,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	if o.client {
		opts = trust.LeafOptions{CommonName: "leaf", Validity: time.Hour, Usage: trust.UsageClient}
	}
	now := time.Now()
	if o.expired {
		now = now.Add(-2 * time.Hour)
	}
	l, err := ca.ca.IssueLeaf(opts, now)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key}
}
