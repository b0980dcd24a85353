package trust

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	t.Parallel()
	for _, alg := range append([]KeyAlgorithm{""}, KeyAlgorithms()...) {
		t.Run(string(alg)+"/", func(t *testing.T) {
			t.Parallel()
			if alg == AlgorithmRSA4096 && testing.Short() {
				t.Skip("rsa-4096 key generation is slow; skipped with -short")
			}
			ca, err := NewCA(CAOptions{CommonName: "root", Organization: []string{"handover"}, Algorithm: alg}, t0)
			if err != nil {
				t.Fatal(err)
			}
			c := ca.Cert
			if !c.BasicConstraintsValid || !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
				t.Errorf("basic constraints: valid=%v isCA=%v maxPathLen=%d zero=%v", c.BasicConstraintsValid, c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
			}
			if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("KeyUsage = %v", c.KeyUsage)
			}
			if len(c.SubjectKeyId) != 20 {
				t.Errorf("SubjectKeyId has %d bytes, want 20", len(c.SubjectKeyId))
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
			}
			if !c.NotBefore.Equal(t0.Add(-ClockSkew)) || !c.NotAfter.Equal(t0.Add(DefaultCAValidity)) {
				t.Errorf("validity %v..%v", c.NotBefore, c.NotAfter)
			}
			if c.Subject.CommonName != "root" || len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != "handover" {
				t.Errorf("subject %v", c.Subject)
			}
			if err := c.CheckSignatureFrom(c); err != nil {
				t.Errorf("not self-signed: %v", err)
			}
			if err := ValidateCA(c, t0); err != nil {
				t.Errorf("ValidateCA: %v", err)
			}
			wantKey := map[KeyAlgorithm]func(any) bool{
				"":                 isEC256,
				AlgorithmECDSAP256: isEC256,
				AlgorithmRSA2048:   rsaBits(2048),
				AlgorithmRSA3072:   rsaBits(3072),
				AlgorithmRSA4096:   rsaBits(4096),
				AlgorithmEd25519:   func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok },
			}[alg]
			if !wantKey(ca.Key) {
				t.Errorf("key %T is not %q", ca.Key, alg)
			}
			parsed, err := ParseCA(ca.CertPEM, ca.KeyPEM, t0)
			if err != nil {
				t.Fatalf("ParseCA of own PEM: %v", err)
			}
			if !parsed.Cert.Equal(c) || !publicKeyEqual(parsed.Key.Public(), ca.Key.Public()) {
				t.Error("ParseCA round trip differs")
			}
		})
	}
}

func isEC256(k any) bool {
	e, ok := k.(*ecdsa.PrivateKey)
	return ok && e.Curve == elliptic.P256()
}

func rsaBits(n int) func(any) bool {
	return func(k any) bool {
		r, ok := k.(*rsa.PrivateKey)
		return ok && r.N.BitLen() == n
	}
}

func TestNewCAOptions(t *testing.T) {
	t.Parallel()
	nb := time.Date(2020, 5, 1, 0, 0, 0, 0, time.UTC)
	ca, err := NewCA(CAOptions{CommonName: "x", NotBefore: nb, Validity: 48 * time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.NotBefore.Equal(nb) || !ca.Cert.NotAfter.Equal(nb.Add(48*time.Hour)) {
		t.Errorf("validity %v..%v, want %v..+48h", ca.Cert.NotBefore, ca.Cert.NotAfter, nb)
	}
	for _, tt := range []struct {
		name string
		opts CAOptions
		err  error
	}{
		{"no common name", CAOptions{}, ErrInvalidOptions},
		{"negative validity", CAOptions{CommonName: "x", Validity: -time.Hour}, ErrInvalidOptions},
		{"unknown algorithm", CAOptions{CommonName: "x", Algorithm: "dsa-1024"}, ErrUnsupportedKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca, err := NewCA(tt.opts, t0)
			wantErr(t, err, tt.err)
			if ca != nil {
				t.Error("CA returned with an error")
			}
		})
	}
}

func TestValidateCA(t *testing.T) {
	t.Parallel()
	good := mustCA(t, "good", t0, 24*time.Hour)
	leaf := mustLeaf(t, good, "leaf", t0.Add(time.Hour))
	noCertSign, _ := selfSigned(t, &x509.Certificate{BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCRLSign})
	noKeyUsage, _ := selfSigned(t, &x509.Certificate{BasicConstraintsValid: true, IsCA: true})
	noBasicConstraints, _ := selfSigned(t, &x509.Certificate{KeyUsage: x509.KeyUsageCertSign})
	nb, na := good.Cert.NotBefore, good.Cert.NotAfter

	tests := []struct {
		name string
		cert *x509.Certificate
		now  time.Time
		err  error
	}{
		{"valid CA", good.Cert, t0.Add(time.Hour), nil},
		{"at notBefore", good.Cert, nb, nil},
		{"at notAfter", good.Cert, na, nil},
		{"1ns after notAfter", good.Cert, na.Add(time.Nanosecond), ErrExpired},
		{"1ns before notBefore", good.Cert, nb.Add(-time.Nanosecond), ErrNotYetValid},
		{"leaf is not a CA", leaf.Cert, t0.Add(time.Hour), ErrNotCA},
		{"CA:TRUE without keyCertSign", noCertSign, t0, ErrNotCA},
		{"CA:TRUE without KeyUsage extension", noKeyUsage, t0, ErrNotCA},
		{"keyCertSign without BasicConstraints", noBasicConstraints, t0, ErrNotCA},
		{"nil", nil, t0, ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateCA(tt.cert, tt.now)
			wantErr(t, err, tt.err)
			if err != nil && tt.cert != nil {
				var ce *CertError
				if !errors.As(err, &ce) || ce.Cert.Fingerprint != Fingerprint(tt.cert) || ce.Cert.Subject != tt.cert.Subject.String() {
					t.Errorf("error %v does not name the certificate by subject and fingerprint", err)
				}
			}
		})
	}
}

func TestParseCA(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "ca", t0, 24*time.Hour)
	other := mustCA(t, "other", t0, 24*time.Hour)
	rsaCA, err := NewCA(CAOptions{CommonName: "rsa", Algorithm: AlgorithmRSA2048}, t0)
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustLeaf(t, ca, "leaf", t0)
	sec1DER, err := x509.MarshalECPrivateKey(ca.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaCA.Key.(*rsa.PrivateKey)))

	tests := []struct {
		name      string
		cert, key []byte
		now       time.Time
		err       error
	}{
		{"PKCS#8", ca.CertPEM, ca.KeyPEM, t0, nil},
		{"SEC1", ca.CertPEM, pemOf("EC PRIVATE KEY", sec1DER), t0, nil},
		{"PKCS#1", rsaCA.CertPEM, pkcs1, t0, nil},
		{"chain file: first certificate is the CA", append(append([]byte{}, ca.CertPEM...), other.CertPEM...), ca.KeyPEM, t0, nil},
		{"key of another CA", ca.CertPEM, other.KeyPEM, t0, ErrKeyMismatch},
		{"RSA key for an ECDSA CA", ca.CertPEM, pkcs1, t0, ErrKeyMismatch},
		{"expired", ca.CertPEM, ca.KeyPEM, t0.Add(25 * time.Hour), ErrExpired},
		{"not yet valid", ca.CertPEM, ca.KeyPEM, t0.Add(-time.Hour), ErrNotYetValid},
		{"leaf as CA", leaf.CertPEM, leaf.KeyPEM, t0, ErrNotCA},
		{"empty certificate", nil, ca.KeyPEM, t0, ErrEmptyInput},
		{"garbage key", ca.CertPEM, []byte("nope"), t0, ErrNotPEM},
		{"key file with trailing garbage", ca.CertPEM, append(append([]byte{}, ca.KeyPEM...), "zz"...), t0, ErrTrailingData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCA(tt.cert, tt.key, tt.now)
			wantErr(t, err, tt.err)
			if err != nil {
				for _, k := range [][]byte{ca.KeyPEM, other.KeyPEM, pkcs1, leaf.KeyPEM} {
					assertNoKeyMaterial(t, err.Error(), k)
				}
				return
			}
			if !publicKeyEqual(got.Key.Public(), got.Cert.PublicKey) {
				t.Error("key does not match certificate")
			}
			if _, err := ParsePrivateKey(got.KeyPEM); err != nil || !bytesHasPrefix(got.KeyPEM, "-----BEGIN PRIVATE KEY-----") {
				t.Errorf("KeyPEM is not PKCS#8: %v", err)
			}
		})
	}
}
