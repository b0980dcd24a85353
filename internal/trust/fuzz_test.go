package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// parseErrors are the sentinels every parse error must wrap: an error outside
// this set is an unclassified failure the CLI could not explain.
var parseErrors = []error{
	ErrEmptyInput, ErrNotPEM, ErrMalformedPEM, ErrTrailingData, ErrNoCertificate,
	ErrBadCertificate, ErrNoPrivateKey, ErrMultipleKeys, ErrEncryptedKey, ErrBadKey, ErrUnsupportedKey,
}

func classified(err error) bool {
	for _, s := range parseErrors {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzParsePEM feeds arbitrary bytes to ParseCertificates and
// ParsePrivateKey. Invariants: no panic; every error wraps a known sentinel;
// success yields at least one non-nil certificate, and re-encoding the
// certificates parses back to the same DER in the same order; a parsed key
// survives a PKCS#8 round trip.
func FuzzParsePEM(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := NewCA(CAOptions{CommonName: "fuzz"}, now)
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := ca.IssueLeaf(LeafOptions{DNSNames: []string{"fuzz.test"}, Usage: UsageServer}, now)
	if err != nil {
		f.Fatal(err)
	}
	rsaKey, err := GenerateKey(AlgorithmRSA2048)
	if err != nil {
		f.Fatal(err)
	}
	ed, err := NewCA(CAOptions{CommonName: "fuzz-ed", Algorithm: AlgorithmEd25519}, now)
	if err != nil {
		f.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ca.Key.(*ecdsa.PrivateKey))
	if err != nil {
		f.Fatal(err)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, seed := range [][]byte{
		nil,
		[]byte(" \n"),
		[]byte("garbage"),
		[]byte("-----BEGIN CERTIFICATE-----\n"),
		[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
		ca.CertPEM,
		leaf.ChainPEM,
		cat([]byte("subject=CN = fuzz\n"), ca.CertPEM),
		cat(ca.CertPEM, []byte("trailing")),
		ca.CertPEM[:len(ca.CertPEM)/2],
		cat(ca.CertPEM[:40], ed.CertPEM),
		ca.KeyPEM,
		ed.KeyPEM,
		cat(ca.CertPEM, ca.KeyPEM),
		pemOf("EC PRIVATE KEY", sec1),
		pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey.(*rsa.PrivateKey))),
		pemOf("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00}),
		pemOf("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01, 0x01}),
		cat(ca.KeyPEM, leaf.KeyPEM),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificates(data)
		switch {
		case err != nil:
			if certs != nil || !classified(err) {
				t.Fatalf("ParseCertificates: certs=%d err=%v (unclassified or with certs)", len(certs), err)
			}
		case len(certs) == 0:
			t.Fatal("ParseCertificates: success with no certificate")
		default:
			for i, c := range certs {
				if c == nil {
					t.Fatalf("ParseCertificates: certificate %d is nil", i)
				}
			}
			again, err := ParseCertificates(EncodeCertificates(certs...))
			if err != nil || len(again) != len(certs) {
				t.Fatalf("re-encoded certificates do not parse back: %d vs %d, %v", len(again), len(certs), err)
			}
			for i := range certs {
				if !bytes.Equal(again[i].Raw, certs[i].Raw) {
					t.Fatalf("certificate %d changed in the round trip", i)
				}
			}
			_ = Fingerprint(certs[0])
			_ = ValidateCA(certs[0], now)
		}

		key, err := ParsePrivateKey(data)
		switch {
		case err != nil:
			if key != nil || !classified(err) {
				t.Fatalf("ParsePrivateKey: key=%T err=%v (unclassified or with key)", key, err)
			}
		default:
			pkcs8, err := encodeKey(key)
			if err != nil {
				t.Fatalf("parsed key does not marshal: %v", err)
			}
			back, err := ParsePrivateKey(pkcs8)
			if err != nil || !publicKeyEqual(back.Public(), key.Public()) {
				t.Fatalf("PKCS#8 round trip of a parsed key failed: %v", err)
			}
		}
	})
}
