package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
)

// KeyAlgorithm names a key type and size for generated keys.
type KeyAlgorithm string

// Supported key algorithms. "" means AlgorithmECDSAP256.
const (
	AlgorithmECDSAP256 KeyAlgorithm = "ecdsa-p256"
	AlgorithmRSA2048   KeyAlgorithm = "rsa-2048"
	AlgorithmRSA3072   KeyAlgorithm = "rsa-3072"
	AlgorithmRSA4096   KeyAlgorithm = "rsa-4096"
	AlgorithmEd25519   KeyAlgorithm = "ed25519"
)

// KeyAlgorithms lists the supported algorithms, default first.
func KeyAlgorithms() []KeyAlgorithm {
	return []KeyAlgorithm{AlgorithmECDSAP256, AlgorithmRSA2048, AlgorithmRSA3072, AlgorithmRSA4096, AlgorithmEd25519}
}

// ParseKeyAlgorithm returns the algorithm named s in either spelling: the
// CLI's ("ecdsa-p256", "rsa-2048", "ed25519") or the CertificateAuthority
// API's ("ECDSAP256", "RSA2048", "Ed25519"); case and dashes do not matter.
// "" is AlgorithmECDSAP256. An unknown name is an error wrapping
// ErrUnsupportedKey that lists both spellings. It is pure.
func ParseKeyAlgorithm(s string) (KeyAlgorithm, error) {
	if s == "" {
		return AlgorithmECDSAP256, nil
	}
	norm := func(v string) string { return strings.ReplaceAll(strings.ToLower(v), "-", "") }
	var names []string
	for _, a := range KeyAlgorithms() {
		if norm(string(a)) == norm(s) {
			return a, nil
		}
		names = append(names, fmt.Sprintf("%s (%s)", a, apiName(a)))
	}
	return "", fmt.Errorf("%w: algorithm %q (want one of %s)", ErrUnsupportedKey, s, strings.Join(names, ", "))
}

// apiName is a's spelling in the CertificateAuthority API.
func apiName(a KeyAlgorithm) string {
	switch a {
	case AlgorithmECDSAP256:
		return "ECDSAP256"
	case AlgorithmEd25519:
		return "Ed25519"
	}
	return strings.ToUpper(strings.ReplaceAll(string(a), "-", ""))
}

// GenerateKey returns a new private key of algorithm a ("" = ecdsa-p256) from
// crypto/rand, or an error wrapping ErrUnsupportedKey for an unknown name.
func GenerateKey(a KeyAlgorithm) (crypto.Signer, error) {
	switch a {
	case "", AlgorithmECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgorithmRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case AlgorithmRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case AlgorithmRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case AlgorithmEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	default:
		return nil, fmt.Errorf("%w: algorithm %q (want one of %v)", ErrUnsupportedKey, string(a), KeyAlgorithms())
	}
}

// ParsePrivateKey parses the one private key block in pemBytes: "PRIVATE KEY"
// (PKCS#8, RFC 5208), "RSA PRIVATE KEY" (PKCS#1, RFC 8017) or "EC PRIVATE
// KEY" (SEC1, RFC 5915). CERTIFICATE and "EC PARAMETERS" blocks are skipped,
// so a combined cert+key file works. The key must be RSA, ECDSA or Ed25519.
//
// Errors wrap ErrEmptyInput, ErrNotPEM, ErrMalformedPEM, ErrTrailingData,
// ErrNoPrivateKey, ErrMultipleKeys, ErrEncryptedKey, ErrBadKey or
// ErrUnsupportedKey; they name the block index and format and never contain
// key bytes (the underlying parser's message is deliberately dropped).
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	blocks, err := decodePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	var key *pemBlock
	for i := range blocks {
		b := &blocks[i]
		switch b.Type {
		case blockPKCS8, blockPKCS1, blockSEC1, blockEncrypted:
			if key != nil {
				return nil, &PEMError{Index: b.index, Offset: b.offset, Kind: blockKind(b.Type), Err: fmt.Errorf("%w (the first is block %d)", ErrMultipleKeys, key.index)}
			}
			key = b
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%w: found %d PEM block(s), none a PKCS#1, PKCS#8 or SEC1 private key", ErrNoPrivateKey, len(blocks))
	}
	signer, err := parseKeyBlock(key.Block)
	if err != nil {
		return nil, &PEMError{Index: key.index, Offset: key.offset, Kind: blockKind(key.Type), Err: err}
	}
	return signer, nil
}

// parseKeyBlock parses one key block. Errors never wrap the parser's error
// (which could in principle quote input); they say which format failed.
func parseKeyBlock(b *pem.Block) (crypto.Signer, error) {
	if b.Type == blockEncrypted || b.Headers["Proc-Type"] != "" || b.Headers["DEK-Info"] != "" {
		return nil, ErrEncryptedKey
	}
	var (
		key any
		err error
	)
	switch b.Type {
	case blockPKCS8:
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: not a PKCS#8 PrivateKeyInfo", ErrBadKey)
		}
	case blockPKCS1:
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: not a PKCS#1 RSAPrivateKey (or the RSA key is inconsistent or too small)", ErrBadKey)
		}
	case blockSEC1:
		key, err = x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: not a SEC1 ECPrivateKey on a supported curve", ErrBadKey)
		}
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("%w: %T (want RSA, ECDSA or Ed25519)", ErrUnsupportedKey, key)
	}
}

// encodeKey returns key as a PKCS#8 "PRIVATE KEY" PEM block.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: marshal PKCS#8: %T", ErrUnsupportedKey, key)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockPKCS8, Bytes: der}), nil
}

// publicKeyEqual reports whether a and b are the same public key.
func publicKeyEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// keyID returns the RFC 7093 §2 method 1 key identifier of pub: the leftmost
// 160 bits of the SHA-256 hash of the subjectPublicKey BIT STRING (used for
// SubjectKeyId, RFC 5280 §4.2.1.2).
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: marshal public key: %T", ErrUnsupportedKey, pub)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("%w: subjectPublicKeyInfo: %w", ErrUnsupportedKey, err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}
