package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestIssueLeaf(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "issuer", t0, 30*24*time.Hour)
	spiffe, _ := url.Parse("spiffe://handover.test/ns/default/sa/web")
	tests := []struct {
		name    string
		opts    LeafOptions
		now     time.Time
		wantEKU []x509.ExtKeyUsage
		wantKU  x509.KeyUsage
		wantNB  time.Time
		wantNA  time.Time
	}{
		{
			name:    "server with SANs",
			opts:    LeafOptions{CommonName: "web", DNSNames: []string{"web.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, URIs: []*url.URL{spiffe}, Usage: UsageServer, Validity: time.Hour},
			now:     t0.Add(time.Hour),
			wantEKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			wantKU:  x509.KeyUsageDigitalSignature,
			wantNB:  t0.Add(time.Hour - ClockSkew),
			wantNA:  t0.Add(2 * time.Hour),
		},
		{
			name:    "client with CN only",
			opts:    LeafOptions{CommonName: "client", Usage: UsageClient, Validity: time.Hour},
			now:     t0.Add(time.Hour),
			wantEKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			wantKU:  x509.KeyUsageDigitalSignature,
			wantNB:  t0.Add(time.Hour - ClockSkew),
			wantNA:  t0.Add(2 * time.Hour),
		},
		{
			name:    "both usages, RSA adds keyEncipherment",
			opts:    LeafOptions{DNSNames: []string{"both.test"}, Usage: UsageServer | UsageClient, Algorithm: AlgorithmRSA2048, Validity: time.Hour},
			now:     t0.Add(time.Hour),
			wantEKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			wantKU:  x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			wantNB:  t0.Add(time.Hour - ClockSkew),
			wantNA:  t0.Add(2 * time.Hour),
		},
		{
			name:    "default validity clamped to the CA's notAfter",
			opts:    LeafOptions{DNSNames: []string{"late.test"}, Usage: UsageServer, Algorithm: AlgorithmEd25519},
			now:     t0.Add(29 * 24 * time.Hour),
			wantEKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			wantKU:  x509.KeyUsageDigitalSignature,
			wantNB:  t0.Add(29*24*time.Hour - ClockSkew),
			wantNA:  ca.Cert.NotAfter,
		},
		{
			name:    "notBefore clamped to the CA's notBefore",
			opts:    LeafOptions{DNSNames: []string{"early.test"}, Usage: UsageServer, Validity: time.Hour},
			now:     t0,
			wantEKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			wantKU:  x509.KeyUsageDigitalSignature,
			wantNB:  ca.Cert.NotBefore,
			wantNA:  t0.Add(time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			leaf, err := ca.IssueLeaf(tt.opts, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			c := leaf.Cert
			if !slices.Equal(c.ExtKeyUsage, tt.wantEKU) || c.KeyUsage != tt.wantKU {
				t.Errorf("EKU %v KU %v, want %v %v", c.ExtKeyUsage, c.KeyUsage, tt.wantEKU, tt.wantKU)
			}
			if !c.NotBefore.Equal(tt.wantNB) || !c.NotAfter.Equal(tt.wantNA) {
				t.Errorf("validity %v..%v, want %v..%v", c.NotBefore, c.NotAfter, tt.wantNB, tt.wantNA)
			}
			if !c.BasicConstraintsValid || c.IsCA {
				t.Error("leaf is not CA:FALSE")
			}
			if !slices.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) || len(c.SubjectKeyId) != 20 {
				t.Errorf("AKID %x SKID %x, want AKID %x", c.AuthorityKeyId, c.SubjectKeyId, ca.Cert.SubjectKeyId)
			}
			if !slices.Equal(c.DNSNames, tt.opts.DNSNames) || len(c.IPAddresses) != len(tt.opts.IPAddresses) || len(c.URIs) != len(tt.opts.URIs) {
				t.Errorf("SANs %v %v %v", c.DNSNames, c.IPAddresses, c.URIs)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: tt.now, KeyUsages: tt.wantEKU}); err != nil {
				t.Errorf("leaf does not verify against its CA: %v", err)
			}
			chain, err := ParseCertificates(leaf.ChainPEM)
			if err != nil || len(chain) != 2 || !chain[0].Equal(c) || !chain[1].Equal(ca.Cert) {
				t.Errorf("ChainPEM is not leaf then issuer (err %v)", err)
			}
			key, err := ParsePrivateKey(leaf.KeyPEM)
			if err != nil || !publicKeyEqual(key.Public(), c.PublicKey) {
				t.Errorf("KeyPEM does not hold the leaf key (err %v)", err)
			}
		})
	}
}

func TestIssueLeafErrors(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "issuer", t0, 24*time.Hour)
	other := mustCA(t, "other", t0, 24*time.Hour)
	mismatched := &CA{Cert: ca.Cert, Key: other.Key}
	ok := LeafOptions{DNSNames: []string{"a.test"}, Usage: UsageServer}
	tests := []struct {
		name string
		ca   *CA
		opts LeafOptions
		now  time.Time
		err  error
	}{
		{"no usage", ca, LeafOptions{DNSNames: []string{"a.test"}}, t0, ErrInvalidOptions},
		{"unknown usage bits", ca, LeafOptions{DNSNames: []string{"a.test"}, Usage: 4}, t0, ErrInvalidOptions},
		{"server without SAN", ca, LeafOptions{CommonName: "a", Usage: UsageServer}, t0, ErrInvalidOptions},
		{"client without name", ca, LeafOptions{Usage: UsageClient}, t0, ErrInvalidOptions},
		{"negative validity", ca, LeafOptions{DNSNames: []string{"a.test"}, Usage: UsageServer, Validity: -1}, t0, ErrInvalidOptions},
		{"empty DNS name", ca, LeafOptions{DNSNames: []string{""}, Usage: UsageServer}, t0, ErrInvalidOptions},
		{"bad IP", ca, LeafOptions{IPAddresses: []net.IP{{1, 2}}, Usage: UsageServer}, t0, ErrInvalidOptions},
		{"unknown algorithm", ca, LeafOptions{DNSNames: []string{"a.test"}, Usage: UsageServer, Algorithm: "rsa-1024"}, t0, ErrUnsupportedKey},
		{"expired CA", ca, ok, t0.Add(25 * time.Hour), ErrExpired},
		{"CA not yet valid", ca, ok, t0.Add(-time.Hour), ErrNotYetValid},
		{"nil CA", nil, ok, t0, ErrInvalidOptions},
		{"key does not match CA certificate", mismatched, ok, t0, ErrKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			leaf, err := tt.ca.IssueLeaf(tt.opts, tt.now)
			wantErr(t, err, tt.err)
			if leaf != nil {
				t.Error("leaf returned with an error")
			}
			assertNoKeyMaterial(t, err.Error(), ca.KeyPEM)
			assertNoKeyMaterial(t, err.Error(), other.KeyPEM)
		})
	}
}

// TestIssuedCertificatesHandshake proves issued leaves work in a real mutual
// TLS handshake over loopback, and that a peer trusting only another CA
// refuses them.
func TestIssuedCertificatesHandshake(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := mustCA(t, "mtls", now, time.Hour)
	stranger := mustCA(t, "stranger", now, time.Hour)
	server, err := ca.IssueLeaf(LeafOptions{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: UsageServer}, now)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueLeaf(LeafOptions{CommonName: "client", Usage: UsageClient}, now)
	if err != nil {
		t.Fatal(err)
	}
	pool := func(c *CA) *x509.CertPool { p := x509.NewCertPool(); p.AddCert(c.Cert); return p }
	serverCert, err := tls.X509KeyPair(server.CertPEM, server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool(ca),
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if err := conn.(*tls.Conn).Handshake(); err == nil {
					_, _ = conn.Write([]byte("ok"))
				}
			}()
		}
	}()
	dial := func(roots *x509.CertPool) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d := tls.Dialer{Config: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		b, err := io.ReadAll(conn)
		if err != nil {
			return err
		}
		if string(b) != "ok" {
			return errors.New("server refused the client certificate")
		}
		return nil
	}
	if err := dial(pool(ca)); err != nil {
		t.Fatalf("mTLS with the issuing CA: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if err := dial(pool(stranger)); !errors.As(err, &unknown) {
		t.Fatalf("client trusting another CA: err = %v, want x509.UnknownAuthorityError", err)
	}
}
