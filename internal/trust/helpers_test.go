package trust

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// mustCA returns a CA valid from notBefore for validity.
func mustCA(t testing.TB, cn string, notBefore time.Time, validity time.Duration) *CA {
	t.Helper()
	ca, err := NewCA(CAOptions{CommonName: cn, NotBefore: notBefore, Validity: validity}, notBefore)
	if err != nil {
		t.Fatalf("NewCA(%q): %v", cn, err)
	}
	return ca
}

// mustLeaf issues a server+client leaf from ca at now.
func mustLeaf(t testing.TB, ca *CA, cn string, now time.Time) *Leaf {
	t.Helper()
	l, err := ca.IssueLeaf(LeafOptions{CommonName: cn, DNSNames: []string{cn + ".test"}, Usage: UsageServer | UsageClient}, now)
	if err != nil {
		t.Fatalf("IssueLeaf(%q): %v", cn, err)
	}
	return l
}

// selfSigned creates a self-signed certificate from tmpl with a fresh key,
// for shapes NewCA refuses to make (no certSign, no BasicConstraints).
func selfSigned(t testing.TB, tmpl *x509.Certificate) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := GenerateKey(AlgorithmECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(42)
	}
	if tmpl.Subject.CommonName == "" {
		tmpl.Subject = pkix.Name{CommonName: "self-signed"}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = t0.Add(-time.Hour), t0.Add(time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// pemOf encodes der as one PEM block of typ.
func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// wantErr fails t unless err matches want (nil want = no error).
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want errors.Is(_, %v)", err, want)
	}
}

// assertNoKeyMaterial fails t when msg contains "PRIVATE KEY" or any 16-byte
// run of the base64 body of keyPEM. It never prints msg: on failure msg is
// the leak.
func assertNoKeyMaterial(t *testing.T, msg string, keyPEM []byte) {
	t.Helper()
	if strings.Contains(msg, "PRIVATE KEY") {
		t.Fatalf("message (%d bytes) mentions PRIVATE KEY; not printed, it may hold key material", len(msg))
	}
	var body strings.Builder
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if !strings.HasPrefix(line, "-----") {
			body.WriteString(strings.TrimSpace(line))
		}
	}
	b := body.String()
	for i := 0; i+16 <= len(b); i += 8 {
		if strings.Contains(msg, b[i:i+16]) {
			t.Fatalf("message (%d bytes) contains key bytes (base64 body offset %d); not printed", len(msg), i)
		}
	}
}

func bytesHasPrefix(b []byte, p string) bool { return strings.HasPrefix(string(b), p) }
