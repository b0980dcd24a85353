package etcd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// lookupFunc resolves a host name to addresses (net.Resolver.LookupHost).
type lookupFunc func(ctx context.Context, host string) ([]string, error)

// checkHosts resolves the host of every target URL (IP literals need no
// lookup) with lookup, at most 5 s per host, and returns an error naming the
// flag, the target and the URL for the first host that does not resolve: a
// member whose advertised URL cannot be resolved would be added to the
// cluster and never reached.
func checkHosts(ctx context.Context, targets []etcdmig.Target, lookup lookupFunc) error {
	for _, t := range targets {
		for _, f := range []struct{ field, v string }{{"peer URL", t.PeerURL}, {"client URL", t.ClientURL}} {
			u, err := url.Parse(f.v)
			if err != nil {
				return fmt.Errorf("flag --to: target %q %s %q: %w", t.Name, f.field, f.v, err)
			}
			host := u.Hostname()
			if net.ParseIP(host) != nil {
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			addrs, err := lookup(lctx, host)
			cancel()
			if err == nil && len(addrs) == 0 {
				err = fmt.Errorf("no addresses")
			}
			if err != nil {
				return fmt.Errorf("flag --to: target %q %s %q: host %q does not resolve: %w", t.Name, f.field, f.v, host, err)
			}
		}
	}
	return nil
}
