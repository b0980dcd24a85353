package endpointdns

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Entry is the A record set of one name.
type Entry struct {
	Name  string       // fully qualified, lower case, with the trailing dot
	Addrs []netip.Addr // IPv4, sorted
	TTL   time.Duration
}

// String renders "name → a,b (ttl 2s)".
func (e Entry) String() string {
	as := make([]string, len(e.Addrs))
	for i, a := range e.Addrs {
		as[i] = a.String()
	}
	return fmt.Sprintf("%s → %s (ttl %s)", e.Name, strings.Join(as, ","), e.TTL)
}

// Same reports whether e and o point at the same addresses.
func (e Entry) Same(addrs []netip.Addr) bool {
	a := slices.Clone(addrs)
	slices.SortFunc(a, netip.Addr.Compare)
	return slices.Equal(e.Addrs, a)
}

// Record reads and replaces the A record set of one name.
type Record interface {
	// Kind is "server" or "exec".
	Kind() string
	// Name is the fully qualified name the record is for.
	Name() string
	// Get returns the current record (ErrNoRecord when it has none).
	Get(ctx context.Context) (Entry, error)
	// Set replaces the addresses (TTL unchanged); idempotent.
	Set(ctx context.Context, addrs []netip.Addr) error
}

// Canonical returns name fully qualified and lower case, or an error
// wrapping ErrInvalid.
func Canonical(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: name is empty", ErrInvalid)
	}
	fq := dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(fq); !ok {
		return "", fmt.Errorf("%w: name %q is not a domain name", ErrInvalid, name)
	}
	return fq, nil
}

// validAddrs checks addrs are IPv4 and returns them sorted.
func validAddrs(addrs []netip.Addr) ([]netip.Addr, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: no addresses", ErrInvalid)
	}
	out := slices.Clone(addrs)
	for _, a := range out {
		if !a.Is4() {
			return nil, fmt.Errorf("%w: address %s is not IPv4 (A records only)", ErrInvalid, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}
