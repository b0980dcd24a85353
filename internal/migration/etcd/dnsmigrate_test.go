package etcd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/handover-dev/handover/internal/endpointdns"
	"github.com/handover-dev/handover/internal/plan"
)

// commonPort returns a port free on every one of ips (loopback addresses).
func commonPort(t *testing.T, ips []string) string {
	t.Helper()
	for range 200 {
		port := fmt.Sprint(20000 + rand.IntN(10000))
		var ls []net.Listener
		ok := true
		for _, ip := range ips {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			_ = l.Close()
		}
		if ok {
			return port
		}
	}
	t.Skip("no port free on every loopback address")
	return ""
}

// TestMigrationMovesClientsOfADNSName migrates 3 embedded members on
// 127.0.0.11–13 to 3 on 127.0.0.21–23, all serving clients on one port,
// while a client that knows only the name etcd.handover.test (resolved per
// connection through a caching resolver, TTL 1 s, from the in-process DNS
// server) writes throughout. DNSEndpoints moves the record before each
// removal, the sources stop gracefully (their connections close and the
// client dials again, resolving the name) and the client is held around
// the leadership transfer: the migration succeeds, the client sees no
// error, and the record ends on the targets.
func TestMigrationMovesClientsOfADNSName(t *testing.T) {
	srcIPs := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}
	tgtIPs := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"}
	port := commonPort(t, append(append([]string{}, srcIPs...), tgtIPs...))
	peers, err := FreeLoopbackURLs(6)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := &Embedded{BaseDir: t.TempDir()}
	t.Cleanup(src.Close)
	var ic []string
	for i := range srcIPs {
		ic = append(ic, fmt.Sprintf("s%d=%s", i+1, peers[i]))
	}
	var srcURLs []string
	var srcAddrs []netip.Addr
	for i, ip := range srcIPs {
		u := "http://" + net.JoinHostPort(ip, port)
		srcURLs, srcAddrs = append(srcURLs, u), append(srcAddrs, netip.MustParseAddr(ip))
		if err := src.Start(ctx, MemberSpec{Name: fmt.Sprintf("s%d", i+1), PeerURL: peers[i], ClientURL: u,
			InitialCluster: strings.Join(ic, ","), ClusterState: "new", ClusterToken: "dns-" + t.Name()}); err != nil {
			t.Fatal(err)
		}
	}
	var c *Cluster
	for range 100 {
		if c, err = Connect(ctx, srcURLs, nil, nil); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	sources, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const name = "etcd.handover.test"
	dns, err := endpointdns.Serve(name, srcAddrs, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dns.Close() })
	res := &endpointdns.Resolver{Server: dns.Addr()}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + net.JoinHostPort(name, port)}, DialTimeout: 5 * time.Second,
		Logger: zap.NewNop(), DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return res.DialContext(ctx, "tcp", addr)
		})}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	g := &gatedWriters{}
	wg := g.runWith(wctx, t, cli, 2)
	for g.acked.Load() < 20 {
		time.Sleep(10 * time.Millisecond)
	}

	dst := &Embedded{BaseDir: t.TempDir()}
	t.Cleanup(dst.Close)
	var targets []Target
	for i, ip := range tgtIPs {
		targets = append(targets, Target{Name: fmt.Sprintf("t%d", i+1), PeerURL: peers[3+i], ClientURL: "http://" + net.JoinHostPort(ip, port)})
	}
	p, err := NewPlan(Config{Cluster: c, Sources: sources, Targets: targets, Provisioner: dst,
		OnEndpoints: DNSEndpoints(dns, nil),
		StopSource:  func(ctx context.Context, m Member) error { return src.Shutdown(ctx, m.Name) },
		Hold:        g, MetricsURL: MetricsURLs(src, dst),
		DrainDelay: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&plan.Runner{}).Run(ctx, p)
	if err != nil || st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("outcome %v: %v", st.Outcome, err)
	}
	before := g.acked.Load()
	for g.acked.Load() < before+20 { // still writing, through the targets now
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wg.Wait()
	t.Logf("client of %s: %d writes acknowledged, %d failed", name, g.acked.Load(), g.errs.Load())
	if n := g.errs.Load(); n != 0 {
		t.Fatalf("the DNS-name client saw %d errors, first: %v", n, *g.first.Load())
	}
	e, err := dns.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []netip.Addr
	for _, ip := range tgtIPs {
		want = append(want, netip.MustParseAddr(ip))
	}
	if !e.Same(want) {
		t.Fatalf("record %s, want the targets %v", e, tgtIPs)
	}
}
