package tlsloop_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/tlsloop"
	"github.com/handover-dev/handover/internal/trust"
)

// pki is a CA with one leaf for the server and one for the client.
type pki struct {
	ca       *trust.CA
	snapshot tlsloop.Snapshot // ca.crt + server leaf, as a mounted volume
	client   tls.Certificate
}

func newPKI(t *testing.T, name string) pki {
	t.Helper()
	ca, err := trust.NewCA(trust.CAOptions{CommonName: name}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	issue := func(cn string) *trust.Leaf {
		l, err := ca.IssueLeaf(trust.LeafOptions{
			CommonName: cn, DNSNames: []string{cn}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			Usage: trust.UsageServer | trust.UsageClient,
		}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	srv, cli := issue("server"), issue("client")
	client, err := tls.X509KeyPair(cli.ChainPEM, cli.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pki{
		ca: ca,
		snapshot: tlsloop.Snapshot{Generation: "..gen-" + name, Files: map[string][]byte{
			tlsloop.FileCA: ca.CertPEM, tlsloop.FileCert: srv.ChainPEM, tlsloop.FileKey: srv.KeyPEM,
		}},
		client: client,
	}
}

// clientConfig presents p's client leaf and trusts p's CA.
func (p pki) clientConfig() *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	return &tls.Config{
		ServerName: "server", Certificates: []tls.Certificate{p.client}, RootCAs: roots,
		MinVersion: tls.VersionTLS12, SessionTicketsDisabled: true,
	}
}

// roundTrip handshakes over conn, writes Request and reads one line. It
// returns the leaf the server presented and the line.
func roundTrip(conn net.Conn, cfg *tls.Config) (*x509.Certificate, string, error) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, "", err
	}
	if _, err := tc.Write([]byte(tlsloop.Request)); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil {
		return nil, "", err
	}
	return tc.ConnectionState().PeerCertificates[0], line, nil
}

func dialRoundTrip(addr string, cfg *tls.Config) (*x509.Certificate, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, "", err
	}
	return roundTrip(conn, cfg)
}

func startServer(t *testing.T, cfg *tls.Config, opts ...tlsloop.ServerOption) *tlsloop.Server {
	t.Helper()
	s, err := tlsloop.NewServer(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(0, 0) })
	return s
}

func mustParse(t *testing.T, s tlsloop.Snapshot) *tlsloop.Material {
	t.Helper()
	m, err := tlsloop.ParseMaterial(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
