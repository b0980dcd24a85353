package endpointdns

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var (
	src = netip.MustParseAddr("127.0.0.1")
	dst = netip.MustParseAddr("127.0.0.2")
)

// A Resolver caches the server's answer for its TTL: after Set it still
// returns the old address until the TTL has passed, then the new one.
func TestServerAndCachingResolver(t *testing.T) {
	t.Parallel()
	s, err := Serve("api.handover.test", []netip.Addr{src}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	clk := clocktesting.NewFakeClock(time.Now())
	r := &Resolver{Server: s.Addr(), Clock: clk}
	ctx := context.Background()
	got, err := r.Lookup(ctx, "API.handover.test")
	if err != nil || len(got) != 1 || got[0] != src {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	if err := s.Set(ctx, []netip.Addr{dst}); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Get(ctx); !e.Same([]netip.Addr{dst}) || e.TTL != 2*time.Second {
		t.Fatalf("Get = %v", e)
	}
	if got, _ := r.Lookup(ctx, "api.handover.test"); got[0] != src {
		t.Fatalf("within the TTL the cache answered %v, want %v", got, src)
	}
	clk.Step(2 * time.Second)
	if got, _ := r.Lookup(ctx, "api.handover.test"); got[0] != dst {
		t.Fatalf("after the TTL Lookup = %v, want %v", got, dst)
	}
	if _, err := r.Lookup(ctx, "other.handover.test"); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("other name: %v, want ErrNoRecord", err)
	}
}

func TestServeRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		addrs []netip.Addr
		ttl   time.Duration
	}{
		{"", []netip.Addr{src}, time.Second},
		{"a.test", nil, time.Second},
		{"a.test", []netip.Addr{netip.MustParseAddr("::1")}, time.Second},
		{"a.test", []netip.Addr{src}, 500 * time.Millisecond},
	} {
		if s, err := Serve(tc.name, tc.addrs, tc.ttl); !errors.Is(err, ErrInvalid) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("Serve(%q, %v, %s) = %v, want ErrInvalid", tc.name, tc.addrs, tc.ttl, err)
		}
	}
}

// Exec runs the user's commands: Set passes the addresses, Get parses them.
func TestExec(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "rec")
	e := &Exec{Record: "api.handover.test",
		SetCommand: `printf '30 %s\n' "$HANDOVER_DNS_ADDRS" > ` + f,
		GetCommand: `cat ` + f}
	ctx := context.Background()
	if err := e.Set(ctx, []netip.Addr{dst, src}); err != nil {
		t.Fatal(err)
	}
	got, err := e.Get(ctx)
	if err != nil || !got.Same([]netip.Addr{src, dst}) || got.TTL != 30*time.Second || got.Name != "api.handover.test." {
		t.Fatalf("Get = %v, %v", got, err)
	}
	bad := &Exec{Record: "api.handover.test", GetCommand: "echo nonsense"}
	if _, err := bad.Get(ctx); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad output: %v", err)
	}
	if err := (&Exec{Record: "a.test"}).Set(ctx, []netip.Addr{src}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no set command: %v", err)
	}
}
