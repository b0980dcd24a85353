package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/trust"
)

// tlsFiles issues a CA and one leaf (server+client, 127.0.0.1) into dir and
// returns the member TLS files and a client config presenting the leaf.
func tlsFiles(t *testing.T) (*MemberTLS, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, err := trust.NewCA(trust.CAOptions{CommonName: "etcd test CA"}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueLeaf(trust.LeafOptions{CommonName: "etcd", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		Usage: trust.UsageServer | trust.UsageClient}, now)
	if err != nil {
		t.Fatal(err)
	}
	mt := &MemberTLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		TrustedCAFile: filepath.Join(dir, "ca.crt"), ClientCertAuth: true}
	for path, b := range map[string][]byte{mt.CertFile: leaf.CertPEM, mt.KeyFile: leaf.KeyPEM, mt.TrustedCAFile: ca.CertPEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return mt, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// TestMigrateTLS migrates a member serving clients over mutual TLS onto a
// target that serves the same way; a client without a certificate is
// refused by both.
func TestMigrateTLS(t *testing.T) {
	ctx := context.Background()
	mt, clientTLS := tlsFiles(t)
	src := &Embedded{BaseDir: t.TempDir(), TLS: mt}
	ms, err := src.StartCluster(ctx, "tls", []string{"s1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	if !strings.HasPrefix(ms[0].ClientURL, "https://") {
		t.Fatalf("client URL %s", ms[0].ClientURL)
	}
	if _, err := Connect(ctx, []string{ms[0].ClientURL}, &tls.Config{RootCAs: clientTLS.RootCAs, MinVersion: tls.VersionTLS12}, nil); err == nil {
		t.Fatal("a client without a certificate connected")
	}
	c, err := Connect(ctx, []string{ms[0].ClientURL}, clientTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	sources, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tg := freeTargets(t, 1)
	tg[0].ClientURL = "https" + strings.TrimPrefix(tg[0].ClientURL, "http")
	dst := &Embedded{BaseDir: t.TempDir()}
	t.Cleanup(dst.Close)
	p, err := NewPlan(Config{Cluster: c, Sources: sources, Targets: tg, Provisioner: dst, TargetTLS: mt,
		PollInterval: 50 * time.Millisecond, DrainDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&plan.Runner{}).Run(ctx, p)
	if err != nil || st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("outcome %+v, %v", st, err)
	}
	tc, err := Connect(ctx, []string{tg[0].ClientURL}, clientTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tc.Close() }()
	got, err := tc.Members(ctx)
	if err != nil || len(got) != 1 || got[0].Name != "t1" {
		t.Fatalf("members %+v, %v", got, err)
	}
}
