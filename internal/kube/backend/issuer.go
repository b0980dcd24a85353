package backend

import (
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

// SpecIssuer returns a CertificateIssuer signing with ca that honours every
// field of a spec.certificates entry: commonName, dnsNames, ipAddresses,
// uris, usages (default server and client, RFC 5280 §4.2.1.12), duration
// (default 8760h, clamped to the CA's notAfter by trust.IssueLeaf) and
// algorithm. It returns trust's ChainPEM (leaf then CA certificate) and the
// leaf's PKCS#8 key; bad fields return the trust.IssueLeaf error naming them.
func SpecIssuer(ca *trust.CA, now func() time.Time) CertificateIssuer {
	return func(c v1alpha1.CertificateSpec) ([]byte, []byte, error) {
		opts, err := leafOptions(c)
		if err != nil {
			return nil, nil, err
		}
		l, err := ca.IssueLeaf(opts, now())
		if err != nil {
			return nil, nil, fmt.Errorf("issue leaf for Secret %s: %w", c.SecretName, err)
		}
		return l.ChainPEM, l.KeyPEM, nil
	}
}

func leafOptions(c v1alpha1.CertificateSpec) (trust.LeafOptions, error) {
	alg, err := trustAlgorithm(c.Algorithm)
	if err != nil {
		return trust.LeafOptions{}, err
	}
	o := trust.LeafOptions{CommonName: c.CommonName, DNSNames: c.DNSNames, Algorithm: alg, Validity: 8760 * time.Hour}
	if c.Duration != nil {
		o.Validity = c.Duration.Duration
	}
	for _, s := range c.IPAddresses {
		ip := net.ParseIP(s)
		if ip == nil {
			return trust.LeafOptions{}, fmt.Errorf("%w: ipAddresses: %q is not an IP address", ErrInvalidSpec, s)
		}
		o.IPAddresses = append(o.IPAddresses, ip)
	}
	for _, s := range c.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return trust.LeafOptions{}, fmt.Errorf("%w: uris: %q: %w", ErrInvalidSpec, s, err)
		}
		o.URIs = append(o.URIs, u)
	}
	if len(c.Usages) == 0 {
		o.Usage = trust.UsageServer | trust.UsageClient
	}
	for _, u := range c.Usages {
		switch u {
		case v1alpha1.UsageServer:
			o.Usage |= trust.UsageServer
		case v1alpha1.UsageClient:
			o.Usage |= trust.UsageClient
		default:
			return trust.LeafOptions{}, fmt.Errorf("%w: usages: %q (want server or client)", ErrInvalidSpec, u)
		}
	}
	return o, nil
}

// trustAlgorithm maps the API's key algorithm to trust's ("" = ECDSA P-256).
func trustAlgorithm(a v1alpha1.KeyAlgorithm) (trust.KeyAlgorithm, error) {
	switch a {
	case "", v1alpha1.KeyAlgorithmECDSAP256:
		return trust.AlgorithmECDSAP256, nil
	case v1alpha1.KeyAlgorithmRSA2048:
		return trust.AlgorithmRSA2048, nil
	case v1alpha1.KeyAlgorithmRSA3072:
		return trust.AlgorithmRSA3072, nil
	case v1alpha1.KeyAlgorithmRSA4096:
		return trust.AlgorithmRSA4096, nil
	case v1alpha1.KeyAlgorithmEd25519:
		return trust.AlgorithmEd25519, nil
	}
	return "", fmt.Errorf("%w: algorithm %q (want ECDSAP256, RSA2048, RSA3072, RSA4096 or Ed25519)", ErrInvalidSpec, a)
}
