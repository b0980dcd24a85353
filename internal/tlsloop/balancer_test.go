package tlsloop_test

import (
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/tlsloop"
)

func TestBalancerRoundRobinsAndSkipsDeadBackend(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "p")
	cfg := mustParse(t, p.snapshot).Server
	a, b := startServer(t, cfg), startServer(t, cfg)
	deadLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := deadLn.Addr().String()
	_ = deadLn.Close()

	lb, err := tlsloop.NewBalancer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lb.Close)
	lb.Set([]string{a.Addr(), dead, b.Addr()})

	for i := range 4 {
		if _, line, err := dialRoundTrip(lb.Addr(), p.clientConfig()); err != nil || line != tlsloop.Response {
			t.Fatalf("connection %d through the balancer: %q, %v", i, line, err)
		}
	}
	if a.Accepted() != 2 || b.Accepted() != 2 {
		t.Fatalf("accepted a=%d b=%d, want 2 and 2 (round robin, dead backend skipped)", a.Accepted(), b.Accepted())
	}

	removed := lb.Set([]string{a.Addr()})
	want := map[string]int64{dead: 0, b.Addr(): 2}
	if !maps.Equal(removed, want) {
		t.Fatalf("Set removed %v, want %v", removed, want)
	}
	if got := lb.Backends(); !slices.Equal(got, []string{a.Addr()}) {
		t.Fatalf("Backends() = %v, want [%s]", got, a.Addr())
	}
	// Counts restart for a backend added back.
	lb.Set([]string{a.Addr(), b.Addr()})
	if removed := lb.Set(nil); removed[b.Addr()] != 0 || removed[a.Addr()] != 2 {
		t.Fatalf("Set(nil) removed %v, want a=2 (still counted) and b=0 (re-added)", removed)
	}
}

func TestBalancerWithoutBackendClosesConnection(t *testing.T) {
	t.Parallel()
	lb, err := tlsloop.NewBalancer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lb.Close)
	conn, err := net.Dial("tcp", lb.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from a balancer with no backend: %d bytes, %v; want EOF", n, err)
	}
}
