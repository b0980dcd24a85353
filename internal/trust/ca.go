package trust

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Defaults for generated certificates.
const (
	DefaultCAValidity   = 365 * 24 * time.Hour
	DefaultLeafValidity = 90 * 24 * time.Hour
	// ClockSkew is how far notBefore is backdated from now, so peers whose
	// clocks run slightly behind accept a fresh certificate.
	ClockSkew = time.Minute
)

// CAOptions configure NewCA.
type CAOptions struct {
	CommonName   string   // required
	Organization []string // optional subject O
	Algorithm    KeyAlgorithm
	Validity     time.Duration // 0 = DefaultCAValidity; negative is an error
	NotBefore    time.Time     // zero = now - ClockSkew
}

// CA is a trust anchor with its signing key. CertPEM is one CERTIFICATE
// block; KeyPEM is PKCS#8 (RFC 5208). Never log KeyPEM or Key.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA generates a key and a self-signed CA certificate: BasicConstraints
// CA:TRUE with pathLen 0 (it signs leaves only, RFC 5280 §4.2.1.9), KeyUsage
// keyCertSign|cRLSign (§4.2.1.3), an RFC 7093 SubjectKeyId (§4.2.1.2), a
// 128-bit random serial (§4.1.2.2) and notAfter = (NotBefore or now) +
// Validity. Errors wrap ErrInvalidOptions (naming the field) or
// ErrUnsupportedKey.
func NewCA(opts CAOptions, now time.Time) (*CA, error) {
	if opts.CommonName == "" {
		return nil, fmt.Errorf("%w: CAOptions.CommonName is empty", ErrInvalidOptions)
	}
	if opts.Validity < 0 {
		return nil, fmt.Errorf("%w: CAOptions.Validity %v is negative", ErrInvalidOptions, opts.Validity)
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultCAValidity
	}
	notBefore, notAfter := opts.NotBefore, opts.NotBefore.Add(validity)
	if notBefore.IsZero() {
		notBefore, notAfter = now.Add(-ClockSkew), now.Add(validity)
	}
	key, err := GenerateKey(opts.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("CAOptions.Algorithm: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: opts.Organization},
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	cert, keyPEM, err := sign(tmpl, tmpl, key, key, "CA")
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: EncodeCertificates(cert), KeyPEM: keyPEM}, nil
}

// sign is the issuance both NewCA and IssueLeaf end with: it sets tmpl's
// SerialNumber (newSerial) and SubjectKeyId (keyID of key's public half),
// has signer sign tmpl as issued by parent (tmpl itself for a self-signed
// CA), and returns the parsed certificate and key as PKCS#8 PEM. kind
// ("CA", "leaf") and the subject CN name the certificate in errors.
func sign(tmpl, parent *x509.Certificate, key, signer crypto.Signer, kind string) (*x509.Certificate, []byte, error) {
	skid, err := keyID(key.Public())
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber, tmpl.SubjectKeyId = serial, skid
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("create %s certificate %q: %w", kind, tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse created %s certificate %q: %w", kind, tmpl.Subject.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return cert, keyPEM, nil
}

// ParseCA parses a CA from its certificate PEM (the first CERTIFICATE block
// is the CA; later ones are ignored) and its private key PEM, then checks it
// with ValidateCA at now and that the key is the certificate's key. Errors
// wrap the ParseCertificates / ParsePrivateKey errors (prefixed "certificate:"
// or "key:"), ErrNotCA, ErrExpired, ErrNotYetValid or ErrKeyMismatch (a
// *CertError naming the certificate). KeyPEM of the result is re-encoded as
// PKCS#8.
func ParseCA(certPEM, keyPEM []byte, now time.Time) (*CA, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	cert := certs[0]
	if err := ValidateCA(cert, now); err != nil {
		return nil, err
	}
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if !publicKeyEqual(key.Public(), cert.PublicKey) {
		return nil, &CertError{Cert: RefOf(cert), Err: ErrKeyMismatch}
	}
	pkcs8, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: EncodeCertificates(cert), KeyPEM: pkcs8}, nil
}

// ValidateCA returns nil when cert may sign certificates at now: it has
// BasicConstraints CA:TRUE (RFC 5280 §4.2.1.9) and KeyUsage keyCertSign
// (§4.2.1.3; a CA certificate without the KeyUsage extension is rejected),
// and notBefore <= now <= notAfter (§4.1.2.5). Otherwise it returns a
// *CertError wrapping ErrNotCA, ErrNotYetValid or ErrExpired; nil cert wraps
// ErrInvalidOptions.
func ValidateCA(cert *x509.Certificate, now time.Time) error {
	if err := ValidateCAConstraints(cert); err != nil {
		return err
	}
	return checkValidity(cert, now)
}

// ValidateCAConstraints is ValidateCA without the time check: nil when cert
// has BasicConstraints CA:TRUE and KeyUsage keyCertSign, else a *CertError
// wrapping ErrNotCA (nil cert: ErrInvalidOptions).
func ValidateCAConstraints(cert *x509.Certificate) error {
	if cert == nil {
		return fmt.Errorf("%w: certificate is nil", ErrInvalidOptions)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return &CertError{Cert: RefOf(cert), Err: fmt.Errorf("%w: BasicConstraints CA:TRUE is missing (RFC 5280 §4.2.1.9)", ErrNotCA)}
	}
	if cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return &CertError{Cert: RefOf(cert), Err: fmt.Errorf("%w: KeyUsage keyCertSign is missing (RFC 5280 §4.2.1.3)", ErrNotCA)}
	}
	return nil
}

// checkValidity checks notBefore <= now <= notAfter.
func checkValidity(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return &CertError{Cert: RefOf(cert), Err: fmt.Errorf("%w: notBefore %s is after now %s", ErrNotYetValid, cert.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	}
	if now.After(cert.NotAfter) {
		return &CertError{Cert: RefOf(cert), Err: fmt.Errorf("%w: notAfter %s is before now %s", ErrExpired, cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	}
	return nil
}

// newSerial returns a positive 128-bit random serial number (RFC 5280
// §4.1.2.2 allows up to 20 octets; CA/B Forum asks for at least 64 random bits).
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
