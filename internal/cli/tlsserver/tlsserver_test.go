package tlsserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/fleet"
	"github.com/handover-dev/handover/internal/tlsloop"
	"github.com/handover-dev/handover/internal/trust"
)

// syncBuffer is an io.Writer the server logs to and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) events(t *testing.T) []Event {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	sc := bufio.NewScanner(strings.NewReader(s.b.String()))
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

type material struct {
	ca             *trust.CA
	server, client *trust.Leaf
}

func newMaterial(t *testing.T, name string) material {
	t.Helper()
	now := time.Now()
	ca, err := trust.NewCA(trust.CAOptions{CommonName: name}, now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueLeaf(trust.LeafOptions{CommonName: "srv", DNSNames: []string{"srv"}, Usage: trust.UsageServer}, now)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.IssueLeaf(trust.LeafOptions{CommonName: "client", Usage: trust.UsageClient}, now)
	if err != nil {
		t.Fatal(err)
	}
	return material{ca, srv, cl}
}

// payload is a kubernetes.io/tls Secret's volume: ca.crt holds the bundle.
func (m material) payload(bundle ...*trust.CA) map[string][]byte {
	var ca []byte
	for _, c := range bundle {
		ca = append(ca, c.CertPEM...)
	}
	return map[string][]byte{tlsloop.FileCA: ca, tlsloop.FileCert: m.server.CertPEM, tlsloop.FileKey: m.server.KeyPEM}
}

// handshake dials addr as m's client trusting roots and returns the CN of the
// server leaf's issuer, or the error.
func handshake(addr string, m material, roots ...*trust.CA) (string, error) {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r.Cert)
	}
	pair, err := tls.X509KeyPair(m.client.CertPEM, m.client.KeyPEM)
	if err != nil {
		return "", err
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "srv", RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.Write([]byte(tlsloop.Request)); err != nil {
		return "", err
	}
	if _, err := io.ReadFull(conn, make([]byte, len(tlsloop.Response))); err != nil {
		return "", err
	}
	return conn.ConnectionState().PeerCertificates[0].Issuer.CommonName, nil
}

// volumeWith is a kubelet-style volume holding payload.
func volumeWith(t *testing.T, payload map[string][]byte) *fleet.Volume {
	t.Helper()
	vol, err := fleet.NewVolume(t.TempDir(), clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	if err := vol.Write(payload); err != nil {
		t.Fatal(err)
	}
	return vol
}

func start(t *testing.T, o *Options) (addr string, out *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, out, o, ln, clock.RealClock{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String(), out
}

// A hot server follows the kubelet's ..data swap: after the volume moves to
// CA b's leaf and bundle it presents the new leaf, trusts b's clients, and
// logs the generation with the content digest of the new files.
func TestHotServerFollowsTheVolumeAndLogsGenerations(t *testing.T) {
	t.Parallel()
	a, b := newMaterial(t, "ca-a"), newMaterial(t, "ca-b")
	vol := volumeWith(t, a.payload(a.ca))
	addr, out := start(t, &Options{Dir: vol.Dir(), Reload: "hot", Watch: 10 * time.Millisecond})
	if issuer, err := handshake(addr, a, a.ca); err != nil || issuer != "ca-a" {
		t.Fatalf("before the swap: issuer %q, err %v; want ca-a", issuer, err)
	}
	if _, err := handshake(addr, b, a.ca); err == nil {
		t.Fatal("a client of CA b was served before b was in the bundle")
	}
	next := b.payload(a.ca, b.ca)
	if err := vol.Write(next); err != nil {
		t.Fatal(err)
	}
	if issuer, err := handshake(addr, b, b.ca); err != nil || issuer != "ca-b" {
		t.Fatalf("after the swap: issuer %q, err %v; want ca-b", issuer, err)
	}
	want := ContentDigest(next)
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		ev := out.events(t)
		return len(ev) == 2 && ev[1].ContentSHA256 == want, nil
	})
	if err != nil {
		t.Fatalf("generation log %+v, want 2 events, the second with content %s", out.events(t), want)
	}
	ev := out.events(t)
	if ev[0].ContentSHA256 != ContentDigest(a.payload(a.ca)) || ev[0].Generation == ev[1].Generation || ev[0].LeafSHA256 == ev[1].LeafSHA256 {
		t.Fatalf("events %+v: want distinct generations and leaves, the first with the starting content", ev)
	}
	if strings.Contains(out.b.String(), "PRIVATE KEY") {
		t.Fatal("the generation log contains key material")
	}
}

// A load-once server keeps the leaf it started with after the swap.
func TestLoadOnceServerKeepsItsStartingLeaf(t *testing.T) {
	t.Parallel()
	a, b := newMaterial(t, "ca-a"), newMaterial(t, "ca-b")
	vol := volumeWith(t, a.payload(a.ca))
	addr, out := start(t, &Options{Dir: vol.Dir(), Reload: "load-once", Watch: 10 * time.Millisecond})
	if _, err := handshake(addr, a, a.ca); err != nil { // the server has loaded
		t.Fatal(err)
	}
	if err := vol.Write(b.payload(a.ca, b.ca)); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return len(out.events(t)) == 2, nil
	})
	if err != nil {
		t.Fatalf("generation log %+v, want the swap logged", out.events(t))
	}
	if issuer, err := handshake(addr, a, a.ca); err != nil || issuer != "ca-a" {
		t.Fatalf("after the swap: issuer %q, err %v; want ca-a (load-once)", issuer, err)
	}
}

func TestBadFlagsFailBeforeServing(t *testing.T) {
	t.Parallel()
	a := newMaterial(t, "ca-a")
	vol := volumeWith(t, a.payload(a.ca))
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"empty volume", Options{Dir: t.TempDir(), Reload: "hot", Watch: time.Second}, "flag --dir"},
		{"unknown reload", Options{Dir: vol.Dir(), Reload: "sometimes", Watch: time.Second}, "flag --reload"},
		{"zero watch", Options{Dir: vol.Dir(), Reload: "hot"}, "flag --watch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			err = serve(t.Context(), io.Discard, &tc.o, ln, clock.RealClock{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve = %v, want an error naming %s", err, tc.want)
			}
			if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				t.Fatal("the listener is still open after a bad flag")
			}
		})
	}
}
