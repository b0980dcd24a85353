package trust

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseCertificates(t *testing.T) {
	t.Parallel()
	ca1 := mustCA(t, "one", t0, 0)
	ca2 := mustCA(t, "two", t0, 0)
	leaf := mustLeaf(t, ca1, "leaf", t0)
	c1, c2 := ca1.CertPEM, ca2.CertPEM
	truncated := c1[:len(c1)/2]
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	tests := []struct {
		name      string
		in        []byte
		want      []string // subjects CN, in order
		err       error
		wantIndex int // PEMError.Index when >= 0
	}{
		{name: "one certificate", in: c1, want: []string{"one"}},
		{name: "two certificates keep order", in: cat(c2, c1), want: []string{"two", "one"}},
		{name: "chain file", in: leaf.ChainPEM, want: []string{"leaf", "one"}},
		{name: "text before a block is allowed", in: cat([]byte("subject=CN = one\nBag Attributes\n"), c1), want: []string{"one"}},
		{name: "trailing whitespace is allowed", in: cat(c1, []byte("\n\n \t\r\n")), want: []string{"one"}},
		{name: "CRLF line endings", in: bytes.ReplaceAll(c1, []byte("\n"), []byte("\r\n")), want: []string{"one"}},
		{name: "key blocks are skipped", in: cat(ca1.KeyPEM, c1), want: []string{"one"}},
		{name: "empty", in: nil, err: ErrEmptyInput, wantIndex: -1},
		{name: "only whitespace", in: []byte(" \n\t\r\n"), err: ErrEmptyInput, wantIndex: -1},
		{name: "garbage", in: []byte("this is not a certificate\n"), err: ErrNotPEM, wantIndex: -1},
		{name: "DER instead of PEM", in: ca1.Cert.Raw, err: ErrNotPEM, wantIndex: -1},
		{name: "trailing garbage", in: cat(c1, []byte("garbage\n")), err: ErrTrailingData, wantIndex: -1},
		{name: "trailing garbage after two blocks", in: cat(c1, c2, []byte("x")), err: ErrTrailingData, wantIndex: -1},
		{name: "truncated block", in: truncated, err: ErrMalformedPEM, wantIndex: 0},
		{name: "truncated second block", in: cat(c1, truncated), err: ErrMalformedPEM, wantIndex: 1},
		{name: "malformed block before a valid one is not skipped", in: cat(truncated, c2), err: ErrMalformedPEM, wantIndex: 0},
		{name: "only a key", in: ca1.KeyPEM, err: ErrNoCertificate, wantIndex: -1},
		{name: "bad DER in CERTIFICATE block", in: cat(c1, pemOf("CERTIFICATE", []byte("not DER"))), err: ErrBadCertificate, wantIndex: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			certs, err := ParseCertificates(tt.in)
			wantErr(t, err, tt.err)
			if tt.err != nil {
				if certs != nil {
					t.Errorf("certs = %d on error, want nil", len(certs))
				}
				var pe *PEMError
				if got := errors.As(err, &pe); got != (tt.wantIndex >= 0) {
					t.Fatalf("errors.As(PEMError) = %v, want %v (err %v)", got, tt.wantIndex >= 0, err)
				}
				if pe != nil && pe.Index != tt.wantIndex {
					t.Errorf("PEMError.Index = %d, want %d", pe.Index, tt.wantIndex)
				}
				assertNoKeyMaterial(t, err.Error(), ca1.KeyPEM)
				return
			}
			var got []string
			for _, c := range certs {
				got = append(got, c.Subject.CommonName)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("subjects = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCertificatesTrailingOffset(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "one", t0, 0)
	in := append(append([]byte{}, ca.CertPEM...), "  junk"...)
	_, err := ParseCertificates(in)
	wantErr(t, err, ErrTrailingData)
	want := "4 bytes starting at byte " + strconv.Itoa(len(ca.CertPEM)+2)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	ecCA := mustCA(t, "ec", t0, 0)
	ecKey := ecCA.Key
	rsaKey, err := GenerateKey(AlgorithmRSA2048)
	if err != nil {
		t.Fatal(err)
	}
	edKey, err := GenerateKey(AlgorithmEd25519)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf("PRIVATE KEY", der)
	}
	sec1DER, err := x509.MarshalECPrivateKey(ecKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pemOf("EC PRIVATE KEY", sec1DER)
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey.(*rsa.PrivateKey)))
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: sec1DER})
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	allKeys := [][]byte{pkcs8(ecKey), pkcs8(rsaKey), pkcs8(edKey), sec1, pkcs1}

	tests := []struct {
		name string
		in   []byte
		want any // public key the result must match
		err  error
	}{
		{name: "PKCS#8 ECDSA", in: pkcs8(ecKey), want: ecKey.Public()},
		{name: "PKCS#8 RSA", in: pkcs8(rsaKey), want: rsaKey.Public()},
		{name: "PKCS#8 Ed25519", in: pkcs8(edKey), want: edKey.Public()},
		{name: "PKCS#1 RSA", in: pkcs1, want: rsaKey.Public()},
		{name: "SEC1 ECDSA", in: sec1, want: ecKey.Public()},
		{name: "SEC1 with EC PARAMETERS block (openssl ecparam -genkey)", in: cat(ecParams, sec1), want: ecKey.Public()},
		{name: "combined certificate and key", in: cat(ecCA.CertPEM, ecCA.KeyPEM), want: ecKey.Public()},
		{name: "empty", in: []byte{}, err: ErrEmptyInput},
		{name: "garbage", in: []byte("hunter2"), err: ErrNotPEM},
		{name: "trailing garbage", in: cat(sec1, []byte("x")), err: ErrTrailingData},
		{name: "truncated", in: sec1[:len(sec1)-20], err: ErrMalformedPEM},
		{name: "certificate only", in: ecCA.CertPEM, err: ErrNoPrivateKey},
		{name: "two keys", in: cat(sec1, pkcs1), err: ErrMultipleKeys},
		{name: "encrypted PKCS#8", in: pemOf("ENCRYPTED PRIVATE KEY", []byte{0x30, 0}), err: ErrEncryptedKey},
		{name: "RFC 1423 encrypted", in: encrypted, err: ErrEncryptedKey},
		{name: "bad PKCS#8", in: pemOf("PRIVATE KEY", sec1DER), err: ErrBadKey},
		{name: "bad PKCS#1", in: pemOf("RSA PRIVATE KEY", sec1DER), err: ErrBadKey},
		{name: "bad SEC1", in: pemOf("EC PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey.(*rsa.PrivateKey))), err: ErrBadKey},
		{name: "X25519 is not a signer", in: pkcs8(x25519), err: ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := ParsePrivateKey(tt.in)
			wantErr(t, err, tt.err)
			if tt.err != nil {
				if key != nil {
					t.Error("key returned with an error")
				}
				for _, k := range allKeys {
					assertNoKeyMaterial(t, err.Error(), k)
				}
				return
			}
			if !publicKeyEqual(key.Public(), tt.want) {
				t.Errorf("parsed key does not match the generated key")
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "fp", t0, 0)
	fp := Fingerprint(ca.Cert)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("Fingerprint = %q, want 32 upper-case hex pairs joined by colons", fp)
	}
	other := mustCA(t, "fp", t0, 0)
	if Fingerprint(other.Cert) == fp {
		t.Error("two different certificates have the same fingerprint")
	}
	if Fingerprint(nil) != "" {
		t.Error("Fingerprint(nil) != \"\"")
	}
}

func TestEncodeCertificates(t *testing.T) {
	t.Parallel()
	a, b := mustCA(t, "a", t0, 0), mustCA(t, "b", t0, 0)
	out := EncodeCertificates(b.Cert, nil, a.Cert)
	certs, err := ParseCertificates(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !certs[0].Equal(b.Cert) || !certs[1].Equal(a.Cert) {
		t.Fatalf("round trip gave %d certs in the wrong order", len(certs))
	}
	if len(EncodeCertificates()) != 0 {
		t.Error("EncodeCertificates() is not empty")
	}
}
