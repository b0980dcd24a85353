package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// pki is the trust material of one test world: the CA the server trusts for
// clients and that signs its certificate (a), and a stranger CA (b).
type pki struct {
	a, b             *testCA
	serverA, serverB *tls.Certificate
	clientA, clientB *tls.Certificate
	expiredServerA   *tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	a, b := newTestCA(t, "ca-a"), newTestCA(t, "ca-b")
	return &pki{
		a: a, b: b,
		serverA:        a.leaf(t, leafOpts{}),
		serverB:        b.leaf(t, leafOpts{}),
		clientA:        a.leaf(t, leafOpts{client: true}),
		clientB:        b.leaf(t, leafOpts{client: true}),
		expiredServerA: a.leaf(t, leafOpts{expired: true}),
	}
}

// mtlsServerConfig requires and verifies client certificates against
// clientCA and presents serverCert.
func mtlsServerConfig(serverCert *tls.Certificate, clientCA *testCA, maxVersion uint16) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{*serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.pool(),
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   maxVersion,
	}
}

func fixedCert(c *tls.Certificate) func() (*tls.Certificate, error) {
	return func() (*tls.Certificate, error) { return c, nil }
}

func fixedRoots(ca *testCA) func() (*x509.CertPool, error) {
	return func() (*x509.CertPool, error) { return ca.pool(), nil }
}

func onceWithTimeout(p Probe, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.Once(ctx)
}

func TestMTLSAgainstRealServers(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	for _, v := range []struct {
		name string
		max  uint16
	}{{"tls1.3", tls.VersionTLS13}, {"tls1.2", tls.VersionTLS12}} {
		tests := []struct {
			name       string
			serverCert *tls.Certificate
			clientCert *tls.Certificate // nil: none
			roots      *testCA
			serverName string
			request    []byte
			want       string // class; "" = success
			want12     string // class under TLS 1.2 when it differs
		}{
			{name: "success", serverCert: k.serverA, clientCert: k.clientA, roots: k.a},
			{name: "success with request", serverCert: k.serverA, clientCert: k.clientA, roots: k.a, request: []byte("ping")},
			{name: "client cert from a CA the server does not trust", serverCert: k.serverA, clientCert: k.clientB, roots: k.a, want: ClassUnknownAuthority},
			{name: "untrusted client cert with request", serverCert: k.serverA, clientCert: k.clientB, roots: k.a, request: []byte("ping"), want: ClassUnknownAuthority},
			// TLS 1.3 servers send certificate_required (116), TLS 1.2 ones handshake_failure (40).
			{name: "no client cert", serverCert: k.serverA, roots: k.a, want: ClassBadCertificate, want12: ClassHandshakeFailure},
			{name: "server cert from a CA the client does not trust", serverCert: k.serverB, clientCert: k.clientA, roots: k.a, want: ClassUnknownAuthority},
			{name: "wrong server name", serverCert: k.serverA, clientCert: k.clientA, roots: k.a, serverName: "db.example.test", want: ClassHostnameMismatch},
			{name: "expired server cert", serverCert: k.expiredServerA, clientCert: k.clientA, roots: k.a, want: ClassCertificateExpired},
		}
		for _, tc := range tests {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				srv := startTLSServer(t, mtlsServerConfig(tc.serverCert, k.a, v.max), nil)
				p := &MTLS{
					Addr: srv.addr, ServerName: tc.serverName, Request: tc.request,
					GetClientCertificate: fixedCert(tc.clientCert), GetRootCAs: fixedRoots(tc.roots),
				}
				want := tc.want
				if v.max == tls.VersionTLS12 && tc.want12 != "" {
					want = tc.want12
				}
				err := onceWithTimeout(p, 5*time.Second)
				if got := Classify(err); got != want {
					t.Fatalf("Once() = %v, class %q; want class %q", err, got, want)
				}
			})
		}
	}
}

// A server that keeps the half-closed connection open gives no verdict: the
// probe waits ConfirmWait and counts the attempt as a success.
func TestMTLSServerThatDoesNotCloseOnEOF(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	hold := make(chan struct{})
	srv := startTLSServer(t, mtlsServerConfig(k.serverA, k.a, 0), func(*tls.Conn) { <-hold })
	t.Cleanup(func() { close(hold) }) // runs before the server's cleanup waits for its handlers
	p := &MTLS{Addr: srv.addr, GetClientCertificate: fixedCert(k.clientA), GetRootCAs: fixedRoots(k.a), ConfirmWait: 20 * time.Millisecond}
	if err := onceWithTimeout(p, 5*time.Second); err != nil {
		t.Fatalf("Once() = %v, want success", err)
	}
	// The same server with an untrusted client cert still fails.
	p.GetClientCertificate = fixedCert(k.clientB)
	if err := onceWithTimeout(p, 5*time.Second); Classify(err) != ClassUnknownAuthority {
		t.Fatalf("Once() = %v (%q), want %q", err, Classify(err), ClassUnknownAuthority)
	}
}

func TestMTLSConnectionFailures(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	tests := []struct {
		name    string
		addr    string
		timeout time.Duration
		want    string
	}{
		{"closed port", closedAddr(t), 5 * time.Second, ClassConnectionRefused},
		{"server that never answers", silentServer(t), 200 * time.Millisecond, ClassTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &MTLS{Addr: tc.addr, GetClientCertificate: fixedCert(k.clientA), GetRootCAs: fixedRoots(k.a)}
			err := onceWithTimeout(p, tc.timeout)
			if got := Classify(err); got != tc.want {
				t.Fatalf("Once() = %v, class %q; want %q", err, got, tc.want)
			}
		})
	}
}

// Every attempt is a fresh full handshake with the certificate the func
// returns at that moment.
func TestMTLSFetchesCertificatesEveryAttemptWithoutResumption(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	srv := startTLSServer(t, mtlsServerConfig(k.serverA, k.a, 0), nil)
	var current atomic.Pointer[tls.Certificate]
	current.Store(k.clientB)
	var rootCalls atomic.Int32
	p := &MTLS{
		Addr:                 srv.addr,
		GetClientCertificate: func() (*tls.Certificate, error) { return current.Load(), nil },
		GetRootCAs: func() (*x509.CertPool, error) {
			rootCalls.Add(1)
			return k.a.pool(), nil
		},
	}
	if err := onceWithTimeout(p, 5*time.Second); Classify(err) != ClassUnknownAuthority {
		t.Fatalf("with client cert B: Once() = %v, want %q", err, ClassUnknownAuthority)
	}
	current.Store(k.clientA)
	for i := range 3 {
		if err := onceWithTimeout(p, 5*time.Second); err != nil {
			t.Fatalf("attempt %d with client cert A: %v", i, err)
		}
	}
	if got := rootCalls.Load(); got != 4 {
		t.Fatalf("GetRootCAs called %d times, want 4 (once per attempt)", got)
	}
	done, resumed := srv.counts()
	if done != 3 || resumed != 0 {
		t.Fatalf("server saw %d handshakes, %d resumed; want 3 and 0", done, resumed)
	}
}

func TestMTLSBadConfig(t *testing.T) {
	t.Parallel()
	errFetch := errors.New("no cert on disk")
	tests := []struct {
		name string
		p    *MTLS
		want error
	}{
		{"empty addr", &MTLS{}, ErrInvalidConfig},
		{"addr without port and no server name", &MTLS{Addr: "localhost"}, ErrInvalidConfig},
		{"client cert func fails", &MTLS{Addr: "127.0.0.1:1", GetClientCertificate: func() (*tls.Certificate, error) { return nil, errFetch }}, errFetch},
		{"roots func fails", &MTLS{Addr: "127.0.0.1:1", GetRootCAs: func() (*x509.CertPool, error) { return nil, errFetch }}, errFetch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := onceWithTimeout(tc.p, time.Second); !errors.Is(err, tc.want) {
				t.Fatalf("Once() = %v, want %v", err, tc.want)
			}
		})
	}
}
