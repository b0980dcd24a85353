package etcd

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/handover-dev/handover/internal/endpointdns"
)

func TestDNSAddrs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		eps     []string
		want    string // addrs joined; "" with wantErr
		wantErr string
	}{
		{"one port", []string{"http://127.0.0.21:2379", "http://127.0.0.22:2379", "http://127.0.0.21:2379"}, "127.0.0.21,127.0.0.22", ""},
		{"ports differ", []string{"http://127.0.0.21:2379", "http://127.0.0.22:2380"}, "", `endpoint "http://127.0.0.22:2380": port 2380 differs from 2379`},
		{"host name", []string{"https://etcd-0.example:2379"}, "", `needs an IPv4 address, not host "etcd-0.example"`},
		{"IPv6", []string{"http://[::1]:2379"}, "", "needs an IPv4 address"},
		{"none", nil, "", "no endpoints"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addrs, _, err := DNSAddrs(tc.eps)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want %q wrapping ErrInvalidConfig", err, tc.wantErr)
				}
				return
			}
			var got []string
			for _, a := range addrs {
				got = append(got, a.String())
			}
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Fatalf("= %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestDNSEndpointsSwitchesRecordAndWaits points a real DNS server's record
// at the remaining members and checks that the hook waits 2·TTL+1 s (on a
// fake clock) before it lets the removal go, and that a resolver asking
// afterwards gets the new addresses.
func TestDNSEndpointsSwitchesRecordAndWaits(t *testing.T) {
	t.Parallel()
	old := []netip.Addr{netip.MustParseAddr("127.0.0.11"), netip.MustParseAddr("127.0.0.12")}
	srv, err := endpointdns.Serve("etcd.handover.test", old, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	clk := clocktesting.NewFakeClock(time.Now())
	hook := DNSEndpoints(srv, clk)
	done := make(chan error, 1)
	go func() {
		done <- hook(context.Background(), EndpointChange{Step: "remove/s1", Endpoints: []string{"http://127.0.0.12:2379", "http://127.0.0.21:2379"}, Leaving: &Member{Name: "s1"}})
	}()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("hook returned before the wait: %v", err)
	default:
	}
	e, err := srv.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !e.Same([]netip.Addr{netip.MustParseAddr("127.0.0.12"), netip.MustParseAddr("127.0.0.21")}) {
		t.Fatalf("record %s, want 127.0.0.12,127.0.0.21", e)
	}
	clk.Step(5 * time.Second) // 2·TTL + 1 s
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r := &endpointdns.Resolver{Server: srv.Addr()}
	got, err := r.Lookup(context.Background(), "etcd.handover.test")
	if err != nil || len(got) != 2 {
		t.Fatalf("lookup = %v, %v", got, err)
	}
	// Unchanged endpoints: no change, no wait.
	if err := hook(context.Background(), EndpointChange{Step: "remove/s2", Endpoints: []string{"http://127.0.0.21:2379", "http://127.0.0.12:2379"}, Leaving: &Member{Name: "s2"}}); err != nil {
		t.Fatal(err)
	}
	// A change that removes nobody (a promotion, transient steering) and a
	// rollback's removal leave the record alone, without waiting.
	for _, ch := range []EndpointChange{
		{Step: "promote/t2", Endpoints: []string{"http://127.0.0.22:2379"}},
		{Step: "verify/before-removal", Endpoints: []string{"http://127.0.0.22:2379"}, Transient: true},
		{Step: "add-learner/t2", Endpoints: []string{"http://127.0.0.22:2379"}, Leaving: &Member{Name: "t2"}, Reverted: true},
	} {
		if err := hook(context.Background(), ch); err != nil {
			t.Fatalf("%s: %v", ch, err)
		}
		if e, _ := srv.Get(context.Background()); !e.Same([]netip.Addr{netip.MustParseAddr("127.0.0.12"), netip.MustParseAddr("127.0.0.21")}) {
			t.Fatalf("%s changed the record to %s", ch, e)
		}
	}
}
