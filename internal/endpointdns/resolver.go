package endpointdns

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
	"k8s.io/utils/clock"
)

// Resolver is a caching stub resolver that asks one DNS server (host:port)
// and keeps each answer for its TTL, as a node-local cache or a recursive
// resolver does. Clients dial through DialContext, so every new connection
// resolves the name as a real client's would. Safe for concurrent use.
type Resolver struct {
	Server string      // "127.0.0.1:port"
	Clock  clock.Clock // nil = real clock
	// NoCache makes every lookup ask the server (TTL ignored).
	NoCache bool

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	addrs   []netip.Addr
	expires time.Time
}

func (r *Resolver) clock() clock.Clock {
	if r.Clock == nil {
		return clock.RealClock{}
	}
	return r.Clock
}

// Lookup returns the A addresses of name, from the cache while its TTL runs.
func (r *Resolver) Lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	fq, err := Canonical(name)
	if err != nil {
		return nil, err
	}
	now := r.clock().Now()
	if !r.NoCache {
		r.mu.Lock()
		c, ok := r.cache[fq]
		r.mu.Unlock()
		if ok && now.Before(c.expires) {
			return c.addrs, nil
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(fq, dns.TypeA)
	cl := &dns.Client{Timeout: 2 * time.Second}
	in, _, err := cl.ExchangeContext(ctx, m, r.Server)
	if err != nil {
		return nil, fmt.Errorf("resolve %s at %s: %w", fq, r.Server, err)
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("resolve %s: %w (%s)", fq, ErrNoRecord, dns.RcodeToString[in.Rcode])
	}
	var addrs []netip.Addr
	ttl := uint32(0)
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				addrs = append(addrs, ip)
				ttl = a.Hdr.Ttl
			}
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: %w", fq, ErrNoRecord)
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]cached{}
	}
	r.cache[fq] = cached{addrs: addrs, expires: now.Add(time.Duration(ttl) * time.Second)}
	r.mu.Unlock()
	return addrs, nil
}

// DialContext resolves the host of address ("name:port") through Lookup
// and dials one of its addresses at random (as Go's resolver order is
// random per RFC 6724 only among equal ones). An IP host is dialed as is.
func (r *Resolver) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	if _, err := netip.ParseAddr(host); err == nil {
		return d.DialContext(ctx, network, address)
	}
	addrs, err := r.Lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	a := addrs[rand.IntN(len(addrs))] //nolint:gosec // G404: load spreading, not a secret
	p, _ := strconv.Atoi(port)
	return d.DialContext(ctx, network, netip.AddrPortFrom(a, uint16(p)).String()) //nolint:gosec // G115: port from SplitHostPort
}
