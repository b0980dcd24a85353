package trust

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Usage is a bit set of what a leaf certificate is for (its ExtKeyUsage,
// RFC 5280 §4.2.1.12).
type Usage int

// Usage bits.
const (
	UsageServer Usage = 1 << iota // id-kp-serverAuth
	UsageClient                   // id-kp-clientAuth
)

// String renders "server", "client", "server,client" or "none".
func (u Usage) String() string {
	switch u & (UsageServer | UsageClient) {
	case UsageServer:
		return "server"
	case UsageClient:
		return "client"
	case UsageServer | UsageClient:
		return "server,client"
	default:
		return "none"
	}
}

// LeafOptions configure CA.IssueLeaf.
type LeafOptions struct {
	CommonName  string
	DNSNames    []string
	IPAddresses []net.IP
	URIs        []*url.URL
	Usage       Usage // UsageServer|UsageClient; 0 or unknown bits are an error
	Algorithm   KeyAlgorithm
	Validity    time.Duration // 0 = DefaultLeafValidity; always clamped to the CA's notAfter
}

// Leaf is an issued end-entity certificate with its key. KeyPEM is PKCS#8;
// ChainPEM is the leaf then its issuer. Never log KeyPEM or Key.
type Leaf struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertPEM  []byte
	KeyPEM   []byte
	ChainPEM []byte
}

// IssueLeaf generates a key and a certificate signed by ca: BasicConstraints
// CA:FALSE, KeyUsage digitalSignature (plus keyEncipherment for RSA, for TLS
// 1.2 RSA key exchange), ExtKeyUsage from opts.Usage, the SANs of opts,
// SubjectKeyId and AuthorityKeyId = the CA's SubjectKeyId (RFC 5280
// §4.2.1.1), a 128-bit random serial. Validity runs from now - ClockSkew (not
// before the CA's notBefore) to now + Validity (not after the CA's notAfter).
//
// Errors: ErrInvalidOptions naming the field (no Usage, unknown Usage bits,
// negative Validity, no CommonName and no SAN, a server leaf without SAN —
// TLS clients verify SANs only, RFC 6125 §6.4.4), the ValidateCA errors for
// ca at now (an expired CA issues nothing), ErrUnsupportedKey.
func (ca *CA) IssueLeaf(opts LeafOptions, now time.Time) (*Leaf, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, fmt.Errorf("%w: CA has no certificate or key", ErrInvalidOptions)
	}
	if err := validateLeafOptions(opts); err != nil {
		return nil, err
	}
	if err := ValidateCA(ca.Cert, now); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if !publicKeyEqual(ca.Key.Public(), ca.Cert.PublicKey) {
		return nil, &CertError{Cert: RefOf(ca.Cert), Err: ErrKeyMismatch}
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	notBefore := now.Add(-ClockSkew)
	if notBefore.Before(ca.Cert.NotBefore) {
		notBefore = ca.Cert.NotBefore
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	key, err := GenerateKey(opts.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("LeafOptions.Algorithm: %w", err)
	}
	keyUsage := x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PrivateKey); ok {
		keyUsage |= x509.KeyUsageKeyEncipherment
	}
	var ext []x509.ExtKeyUsage
	if opts.Usage&UsageServer != 0 {
		ext = append(ext, x509.ExtKeyUsageServerAuth)
	}
	if opts.Usage&UsageClient != 0 {
		ext = append(ext, x509.ExtKeyUsageClientAuth)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              keyUsage,
		ExtKeyUsage:           ext,
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              opts.DNSNames,
		IPAddresses:           opts.IPAddresses,
		URIs:                  opts.URIs,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	cert, keyPEM, err := sign(tmpl, ca.Cert, key, ca.Key, "leaf")
	if err != nil {
		return nil, err
	}
	return &Leaf{
		Cert:     cert,
		Key:      key,
		CertPEM:  EncodeCertificates(cert),
		KeyPEM:   keyPEM,
		ChainPEM: EncodeCertificates(cert, ca.Cert),
	}, nil
}

func validateLeafOptions(opts LeafOptions) error {
	switch {
	case opts.Usage == 0:
		return fmt.Errorf("%w: LeafOptions.Usage is empty (want server, client or both)", ErrInvalidOptions)
	case opts.Usage&^(UsageServer|UsageClient) != 0:
		return fmt.Errorf("%w: LeafOptions.Usage has unknown bits %#x", ErrInvalidOptions, int(opts.Usage&^(UsageServer|UsageClient)))
	case opts.Validity < 0:
		return fmt.Errorf("%w: LeafOptions.Validity %v is negative", ErrInvalidOptions, opts.Validity)
	}
	sans := len(opts.DNSNames) + len(opts.IPAddresses) + len(opts.URIs)
	if opts.Usage&UsageServer != 0 && sans == 0 {
		return fmt.Errorf("%w: LeafOptions.DNSNames/IPAddresses/URIs: a server certificate needs at least one SAN", ErrInvalidOptions)
	}
	if opts.CommonName == "" && sans == 0 {
		return fmt.Errorf("%w: LeafOptions.CommonName is empty and there is no SAN", ErrInvalidOptions)
	}
	for i, ip := range opts.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return fmt.Errorf("%w: LeafOptions.IPAddresses[%d] is not an IP address", ErrInvalidOptions, i)
		}
	}
	for i, u := range opts.URIs {
		if u == nil {
			return fmt.Errorf("%w: LeafOptions.URIs[%d] is nil", ErrInvalidOptions, i)
		}
	}
	for i, d := range opts.DNSNames {
		if d == "" {
			return fmt.Errorf("%w: LeafOptions.DNSNames[%d] is empty", ErrInvalidOptions, i)
		}
	}
	return nil
}
