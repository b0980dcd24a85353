package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (test with errors.Is); typed errors below add context.
var (
	// ErrEmptyInput: the input is empty or only whitespace.
	ErrEmptyInput = errors.New("empty input")
	// ErrNotPEM: the input contains no PEM block at all.
	ErrNotPEM = errors.New("not PEM: no -----BEGIN block found")
	// ErrMalformedPEM: a -----BEGIN line is present but the block does not
	// decode (missing END line, bad base64, mismatched type).
	ErrMalformedPEM = errors.New("malformed PEM block")
	// ErrTrailingData: non-whitespace bytes follow the last PEM block.
	ErrTrailingData = errors.New("trailing data after the last PEM block")
	// ErrNoCertificate: PEM decoded but holds no CERTIFICATE block.
	ErrNoCertificate = errors.New("no CERTIFICATE block")
	// ErrBadCertificate: a CERTIFICATE block is not a valid X.509 certificate.
	ErrBadCertificate = errors.New("invalid X.509 certificate")
	// ErrNoPrivateKey: PEM decoded but holds no private key block.
	ErrNoPrivateKey = errors.New("no private key block")
	// ErrMultipleKeys: more than one private key block; which one is meant is ambiguous.
	ErrMultipleKeys = errors.New("more than one private key block")
	// ErrEncryptedKey: the key is encrypted (RFC 1423 headers or PKCS#8
	// EncryptedPrivateKeyInfo); decrypt it first.
	ErrEncryptedKey = errors.New("encrypted private key is not supported")
	// ErrBadKey: a key block does not parse in the format its type names.
	ErrBadKey = errors.New("invalid private key")
	// ErrUnsupportedKey: the key parses but is not RSA, ECDSA or Ed25519, or
	// an algorithm name is unknown.
	ErrUnsupportedKey = errors.New("unsupported key type")
	// ErrNotCA: the certificate may not sign certificates: it lacks
	// BasicConstraints CA:TRUE (RFC 5280 §4.2.1.9) or KeyUsage keyCertSign
	// (RFC 5280 §4.2.1.3).
	ErrNotCA = errors.New("not a CA certificate")
	// ErrExpired: now is after the certificate's notAfter.
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid: now is before the certificate's notBefore.
	ErrNotYetValid = errors.New("certificate not yet valid")
	// ErrKeyMismatch: the private key's public half is not the certificate's public key.
	ErrKeyMismatch = errors.New("private key does not match certificate")
	// ErrInvalidOptions: an options struct has a bad field; the message names it.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrNoActiveCA: BundleInput.Active is nil.
	ErrNoActiveCA = errors.New("no active CA")
	// ErrBundleWouldDropSigner: the MaxCAs cap would drop a CA that signs a
	// leaf still in use.
	ErrBundleWouldDropSigner = errors.New("bundle would drop a CA that signs a leaf in use")
	// ErrSignerExpired: the only CA signing a leaf in use has expired, so the
	// policy would drop it (and the leaf no longer verifies anyway); re-issue
	// the leaf before rotating.
	ErrSignerExpired = errors.New("the CA that signs a leaf in use has expired")
	// ErrNoSigner: no input CA signs a leaf in use, so no bundle the policy
	// can build verifies it (a leaf from another CA, or issued by an
	// intermediate: pass its direct issuer).
	ErrNoSigner = errors.New("no input CA signs a leaf in use")
)

// CertRef names a certificate in errors and reports: its subject (RFC 4514
// string) and the SHA-256 fingerprint of its DER encoding.
type CertRef struct {
	Subject     string
	Fingerprint string
}

// RefOf returns the CertRef of cert (zero for nil).
func RefOf(cert *x509.Certificate) CertRef {
	if cert == nil {
		return CertRef{}
	}
	return CertRef{Subject: cert.Subject.String(), Fingerprint: Fingerprint(cert)}
}

// String renders `"CN=x" (sha256 AB:CD:...)`.
func (r CertRef) String() string {
	return fmt.Sprintf("%q (sha256 %s)", r.Subject, r.Fingerprint)
}

// PEMError is a problem with one PEM block: Index counts blocks from 0 in
// input order, Offset is the byte offset of the block's BEGIN line, Kind
// describes the block ("certificate", "PKCS#8 key", ...; never the content).
type PEMError struct {
	Index  int
	Offset int
	Kind   string
	Err    error
}

func (e *PEMError) Error() string {
	return fmt.Sprintf("pem block %d (%s at byte %d): %v", e.Index, e.Kind, e.Offset, e.Err)
}

func (e *PEMError) Unwrap() error { return e.Err }

// CertError is a problem with one certificate, named by subject and fingerprint.
type CertError struct {
	Cert CertRef
	Err  error
}

func (e *CertError) Error() string {
	return fmt.Sprintf("certificate %s: %v", e.Cert, e.Err)
}

func (e *CertError) Unwrap() error { return e.Err }

// SignerError is returned by Bundle when keeping to the policy would break
// verification of a leaf in use. Err is ErrBundleWouldDropSigner (the cap),
// ErrSignerExpired or ErrNoSigner; CA is zero for ErrNoSigner. Reason says
// why the CA would be dropped.
type SignerError struct {
	Leaf   CertRef
	CA     CertRef
	Reason string
	Err    error
}

func (e *SignerError) Error() string {
	if e.CA == (CertRef{}) {
		return fmt.Sprintf("%v: leaf %s", e.Err, e.Leaf)
	}
	return fmt.Sprintf("%v: leaf %s is signed by CA %s, which %s", e.Err, e.Leaf, e.CA, e.Reason)
}

func (e *SignerError) Unwrap() error { return e.Err }
