package etcd

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/endpointdns"
)

// DNSAddrs returns the IPv4 addresses of endpoints (client URLs) for an A
// record set and their common port. Every endpoint must have an IPv4
// literal host and all the same port: an A record carries no port, so
// clients reach every member on the port in their one URL. Otherwise the
// error wraps ErrInvalidConfig and names the endpoint. Pure.
func DNSAddrs(endpoints []string) ([]netip.Addr, string, error) {
	if len(endpoints) == 0 {
		return nil, "", fmt.Errorf("%w: no endpoints for the DNS record", ErrInvalidConfig)
	}
	var addrs []netip.Addr
	seen := map[netip.Addr]bool{}
	port := ""
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		if err != nil {
			return nil, "", fmt.Errorf("%w: endpoint %q: %w", ErrInvalidConfig, ep, err)
		}
		a, err := netip.ParseAddr(u.Hostname())
		if err != nil || !a.Is4() {
			return nil, "", fmt.Errorf("%w: endpoint %q: the DNS record needs an IPv4 address, not host %q", ErrInvalidConfig, ep, u.Hostname())
		}
		if port == "" {
			port = u.Port()
		} else if u.Port() != port {
			return nil, "", fmt.Errorf("%w: endpoint %q: port %s differs from %s (an A record carries no port: every member must serve clients on one port)", ErrInvalidConfig, ep, u.Port(), port)
		}
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	return addrs, port, nil
}

// DNSEndpoints returns an EndpointHook for clients that reach the
// cluster by one name (--endpoints https://etcd.example:2379): before each
// removal (a change with Leaving) it points rec at the addresses of the
// endpoints that remain (DNSAddrs) and then waits 2·TTL + 1 s, so that a
// resolver that cached the old answer just before the change has expired
// it and a client's next dial reaches a member that stays. A client keeps a connection it already
// has: it needs the member's graceful stop (StopSource) or its removal to
// dial again. Every other change is nil, and so is a rollback's removal
// of a target: the record holds only sources until the first source
// removal, the point of no return. clk times the wait (nil = real clock).
// Errors come from DNSAddrs and rec and name the record.
func DNSEndpoints(rec endpointdns.Record, clk clock.Clock) EndpointHook {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return func(ctx context.Context, ch EndpointChange) error {
		if ch.Leaving == nil || ch.Reverted {
			return nil
		}
		addrs, _, err := DNSAddrs(ch.Endpoints)
		if err != nil {
			return err
		}
		cur, err := rec.Get(ctx)
		if err != nil {
			return fmt.Errorf("dns record %s: %w", rec.Name(), err)
		}
		if cur.Same(addrs) {
			return nil
		}
		if err := rec.Set(ctx, addrs); err != nil {
			return fmt.Errorf("dns record %s before removing %s: %w", rec.Name(), memberLabel(*ch.Leaving), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clk.After(2*cur.TTL + time.Second):
			return nil
		}
	}
}
