package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/testenv/pki"
)

func TestGenerateChainsAndUsages(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f, err := pki.Generate(t.TempDir(), now)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	ca := pool(t, f.CA.Cert)
	etcdCA := pool(t, f.EtcdCA.Cert)
	tests := []struct {
		name  string
		pair  pki.Pair
		roots *x509.CertPool
		usage x509.ExtKeyUsage
		host  string
		ok    bool
	}{
		{"apiserver serves 127.0.0.1", f.APIServer, ca, x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"apiserver serves in-cluster name", f.APIServer, ca, x509.ExtKeyUsageServerAuth, "kubernetes.default.svc", true},
		{"apiserver serves service IP", f.APIServer, ca, x509.ExtKeyUsageServerAuth, "10.0.0.1", true},
		{"apiserver does not serve other hosts", f.APIServer, ca, x509.ExtKeyUsageServerAuth, "example.com", false},
		{"admin is a client", f.Admin, ca, x509.ExtKeyUsageClientAuth, "", true},
		{"admin is not a server", f.Admin, ca, x509.ExtKeyUsageServerAuth, "", false},
		{"controller-manager client", f.ControllerManager, ca, x509.ExtKeyUsageClientAuth, "", true},
		{"scheduler client", f.Scheduler, ca, x509.ExtKeyUsageClientAuth, "", true},
		{"kwok client", f.Kwok, ca, x509.ExtKeyUsageClientAuth, "", true},
		{"controller-manager serving", f.ControllerManagerServing, ca, x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"scheduler serving", f.SchedulerServing, ca, x509.ExtKeyUsageServerAuth, "localhost", true},
		{"kwok serving", f.KwokServing, ca, x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"etcd serves 127.0.0.1", f.EtcdServer, etcdCA, x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"etcd client under etcd CA", f.EtcdClient, etcdCA, x509.ExtKeyUsageClientAuth, "", true},
		{"etcd client not under cluster CA", f.EtcdClient, ca, x509.ExtKeyUsageClientAuth, "", false},
		{"admin not under etcd CA", f.Admin, etcdCA, x509.ExtKeyUsageClientAuth, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pair, err := tls.LoadX509KeyPair(tt.pair.Cert, tt.pair.Key)
			if err != nil {
				t.Fatalf("load pair: %v", err)
			}
			cert, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			_, err = cert.Verify(x509.VerifyOptions{
				DNSName:     tt.host,
				Roots:       tt.roots,
				KeyUsages:   []x509.ExtKeyUsage{tt.usage},
				CurrentTime: now,
			})
			if (err == nil) != tt.ok {
				t.Fatalf("verify: got err %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestGenerateKeyModesAndServiceAccount(t *testing.T) {
	t.Parallel()
	f, err := pki.Generate(t.TempDir(), time.Now())
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	for _, key := range []string{f.CA.Key, f.EtcdCA.Key, f.APIServer.Key, f.Admin.Key, f.ServiceAccountKey} {
		st, err := os.Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", key, st.Mode().Perm())
		}
	}
	pubPEM, err := os.ReadFile(f.ServiceAccountPub)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pubPEM)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("sa.pub is not a PUBLIC KEY PEM block")
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		t.Fatalf("parse sa.pub: %v", err)
	}
}

// A real mutual-TLS handshake over loopback: the apiserver pair serves, the
// admin pair is accepted, a certificate from the etcd CA is refused.
func TestGenerateMutualTLSHandshake(t *testing.T) {
	t.Parallel()
	f, err := pki.Generate(t.TempDir(), time.Now())
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	serving, err := tls.LoadX509KeyPair(f.APIServer.Cert, f.APIServer.Key)
	if err != nil {
		t.Fatal(err)
	}
	ca := pool(t, f.CA.Cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_, _ = c.Write([]byte("ok"))
			_ = c.Close()
		}
	}()
	dial := func(client pki.Pair) error {
		pair, err := tls.LoadX509KeyPair(client.Cert, client.Key)
		if err != nil {
			return err
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
			RootCAs:      ca,
			Certificates: []tls.Certificate{pair},
			ServerName:   "127.0.0.1",
			MinVersion:   tls.VersionTLS12,
		})
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2)
		if _, err := c.Read(buf); err != nil {
			return err
		}
		return nil
	}
	if err := dial(f.Admin); err != nil {
		t.Fatalf("admin handshake: %v", err)
	}
	if err := dial(f.EtcdClient); err == nil {
		t.Fatal("etcd client certificate was accepted by a server trusting only the cluster CA")
	}
}

func pool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		t.Fatalf("no certificate in %s", path)
	}
	return p
}

// GenerateWith adds the endpoint name to the apiserver serving certificate
// only (kubeadm's controlPlaneEndpoint); Generate does not.
func TestGenerateWithEndpointName(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		opts pki.Options
		ok   bool
	}{
		{pki.Options{APIServerNames: []string{"api.handover.test"}}, true},
		{pki.Options{}, false},
	} {
		f, err := pki.GenerateWith(t.TempDir(), now, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(f.APIServer.Cert, f.APIServer.Key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.VerifyHostname("api.handover.test"); (err == nil) != tc.ok {
			t.Errorf("opts %+v: VerifyHostname = %v, want ok=%v", tc.opts, err, tc.ok)
		}
	}
}
