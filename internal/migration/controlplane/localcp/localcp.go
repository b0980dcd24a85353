// Package localcp builds a local two-site control plane for the demo and
// tests: a PKI whose apiserver certificate carries the endpoint name, a
// source site (embedded etcd members and a kube-apiserver process on
// 127.0.0.1), a target site (embedded etcd provisioner and the
// kube-apiserver provisioner, on 127.0.0.2), and an authoritative DNS
// server on 127.0.0.1 that resolves the endpoint name to the source.
// Clients use Files.User, a cluster admin outside system:masters (bound by
// Start), so API Priority and Fairness applies to them as to real
// clients; handover itself checks apiservers as Files.Admin.
//
// Both apiservers listen on the same port (a DNS record carries no port),
// so the sites need two loopback addresses; Linux routes all of 127/8 to
// lo, so 127.0.0.2 needs no setup. Callers run in a private network
// namespace (internal/netns) so that address is theirs alone.
package localcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/endpointdns"
	"github.com/handover-dev/handover/internal/migration/controlplane"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/testenv/pki"
)

// Site addresses.
var (
	SourceAddr = netip.MustParseAddr("127.0.0.1")
	TargetAddr = netip.MustParseAddr("127.0.0.2")
)

// EndpointName is the stable name of the local control plane.
const EndpointName = "api.handover.test"

// Options configure Start.
type Options struct {
	Dir    string // required; everything lives under it
	BinDir string // holds kube-apiserver (make k8s-binaries)
	// Members per site (default 3).
	Members int
	// TTL of the record (default 1 s).
	TTL time.Duration
	// Graceful gives the source apiserver the drain flags (shutdown delay,
	// 429 Retry-After, watch grace, GOAWAY chance); without, it runs with
	// kube-apiserver's defaults (the baselines).
	Graceful bool
	// SiteLatency is the round trip between the sites' etcd members, half
	// each way (see siteLink); 0 = none.
	SiteLatency time.Duration
	Clock       clock.Clock
}

// Local is a running source site plus what the target site needs.
type Local struct {
	Dir        string
	Files      pki.Files
	Endpoint   controlplane.Endpoint
	DNS        *endpointdns.Server
	SrcEtcd    *etcdmig.Embedded
	DstEtcd    *etcdmig.Embedded
	Cluster    *etcdmig.Cluster
	Sources    []etcdmig.Member
	Targets    []etcdmig.Target
	APIServers *controlplane.Process
	Source     controlplane.APIServerSpec
	Target     controlplane.APIServerSpec
	// SiteRTT is the latency added between the sites (Options.SiteLatency).
	SiteRTT time.Duration
	link    *siteLink
}

// Start builds the PKI, starts the source etcd members, the source
// apiserver (waiting for /readyz) and the DNS server. On error everything
// started is stopped.
func Start(ctx context.Context, o Options) (l *Local, err error) {
	if o.Dir == "" {
		return nil, errors.New("localcp: Options.Dir is empty")
	}
	if o.Members == 0 {
		o.Members = 3
	}
	if o.TTL == 0 {
		o.TTL = time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	files, err := pki.GenerateWith(filepath.Join(o.Dir, "pki"), o.Clock.Now(), pki.Options{
		APIServerNames: []string{EndpointName},
		APIServerIPs:   []net.IP{net.IP(SourceAddr.AsSlice()), net.IP(TargetAddr.AsSlice())},
	})
	if err != nil {
		return nil, err
	}
	port, err := FreePortOnBoth()
	if err != nil {
		return nil, err
	}
	l = &Local{Dir: o.Dir, Files: files,
		Endpoint: controlplane.Endpoint{Name: EndpointName, Port: port,
			CAFile: files.CA.Cert, CertFile: files.Admin.Cert, KeyFile: files.Admin.Key},
		SrcEtcd:    &etcdmig.Embedded{BaseDir: filepath.Join(o.Dir, "src-etcd")},
		DstEtcd:    &etcdmig.Embedded{BaseDir: filepath.Join(o.Dir, "dst-etcd")},
		APIServers: &controlplane.Process{Binary: filepath.Join(o.BinDir, "kube-apiserver"), BaseDir: filepath.Join(o.Dir, "apiservers")},
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	var names []string
	for i := range o.Members {
		names = append(names, fmt.Sprintf("s%d", i+1))
	}
	var srcTs []etcdmig.Target
	if o.SiteLatency > 0 {
		l.link = newSiteLink(o.SiteLatency)
		l.SiteRTT = o.SiteLatency
		srcTs, err = l.startLinkedSources(ctx, names)
	} else {
		srcTs, err = l.SrcEtcd.StartCluster(ctx, "handover-cp", names)
	}
	if err != nil {
		return l, err
	}
	var eps []string
	for _, t := range srcTs {
		eps = append(eps, t.ClientURL)
	}
	if l.Cluster, err = connect(ctx, eps, o.Clock); err != nil {
		return l, err
	}
	if l.link != nil {
		l.link.cluster.Store(l.Cluster)
	}
	if l.Sources, err = l.Cluster.Members(ctx); err != nil {
		return l, err
	}
	urls, err := etcdmig.FreeLoopbackURLs(2 * o.Members)
	if err != nil {
		return l, err
	}
	for i := range o.Members {
		l.Targets = append(l.Targets, etcdmig.Target{Name: fmt.Sprintf("t%d", i+1), PeerURL: urls[2*i], ClientURL: urls[2*i+1]})
	}
	if l.link != nil {
		for i := range l.Targets {
			if l.Targets[i].ListenPeerURL, err = l.link.add(siteTarget, l.Targets[i].Name, l.Targets[i].PeerURL); err != nil {
				return l, err
			}
		}
	}
	spec := func(name string, addr netip.Addr, etcd []string) controlplane.APIServerSpec {
		return controlplane.APIServerSpec{Name: name, Addr: addr, Port: port, EtcdServers: etcd,
			CertFile: files.APIServer.Cert, KeyFile: files.APIServer.Key, ClientCAFile: files.CA.Cert,
			ServiceAccountKeyFile: files.ServiceAccountKey, ServiceAccountPubFile: files.ServiceAccountPub}
	}
	l.Source = spec("source", SourceAddr, eps)
	var tEps []string
	for _, t := range l.Targets {
		tEps = append(tEps, t.ClientURL)
	}
	l.Target = spec("target", TargetAddr, tEps)
	// The target always drains well if it is ever a source; the source gets
	// the drain flags only when asked.
	l.Target.ShutdownDelay, l.Target.SendRetryAfter, l.Target.WatchGrace, l.Target.GoawayChance = 5*time.Second, true, 5*time.Second, 0.02
	if o.Graceful {
		l.Source.ShutdownDelay, l.Source.SendRetryAfter, l.Source.WatchGrace, l.Source.GoawayChance = 5*time.Second, true, 5*time.Second, 0.02
	}
	if err := l.APIServers.Start(ctx, l.Source); err != nil {
		return l, err
	}
	if err := l.WaitReady(ctx, SourceAddr, 2*time.Minute); err != nil {
		return l, err
	}
	if err := l.bindUser(ctx); err != nil {
		return l, err
	}
	if l.DNS, err = endpointdns.Serve(EndpointName, []netip.Addr{SourceAddr}, o.TTL); err != nil {
		return l, err
	}
	return l, nil
}

// WaitReady polls /readyz at addr until 200 or timeout.
func (l *Local) WaitReady(ctx context.Context, addr netip.Addr, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := l.Endpoint.Ready(ctx, addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("apiserver at %s not ready after %s: %w (log %s)", addr, timeout, err,
				filepath.Join(l.APIServers.BaseDir, "*.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Config returns the migration configuration for this control plane.
func (l *Local) Config() controlplane.Config {
	return controlplane.Config{
		Etcd: etcdmig.Config{Cluster: l.Cluster, Sources: l.Sources, Targets: l.Targets,
			Provisioner: l.DstEtcd, DrainDelay: 500 * time.Millisecond, PollInterval: 100 * time.Millisecond},
		Endpoint: l.Endpoint, DNS: l.DNS, Source: l.Source, Target: l.Target,
		SourceProvisioner: l.APIServers, TargetProvisioner: l.APIServers,
		SiteRTT: l.SiteRTT,
	}
}

// Resolver returns a caching resolver asking the DNS server.
func (l *Local) Resolver() *endpointdns.Resolver { return &endpointdns.Resolver{Server: l.DNS.Addr()} }

// Close stops everything (apiservers first) and keeps Dir.
func (l *Local) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, s := range []controlplane.APIServerSpec{l.Target, l.Source} {
		if s.Name != "" {
			l.APIServers.Kill(s)
			_ = l.APIServers.Stop(ctx, s)
		}
	}
	if l.DNS != nil {
		_ = l.DNS.Close()
	}
	if l.Cluster != nil {
		_ = l.Cluster.Close()
	}
	l.DstEtcd.Close()
	l.SrcEtcd.Close()
	if l.link != nil {
		l.link.Close()
	}
}

// FreePortOnBoth returns a port free on both site addresses a moment ago.
func FreePortOnBoth() (int, error) {
	for range 50 {
		a, err := net.Listen("tcp", net.JoinHostPort(SourceAddr.String(), "0"))
		if err != nil {
			return 0, err
		}
		port := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", net.JoinHostPort(TargetAddr.String(), strconv.Itoa(port)))
		_ = a.Close()
		if err == nil {
			_ = b.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free on both %s and %s", SourceAddr, TargetAddr)
}

// RemoveAll removes Dir (after Close).
func (l *Local) RemoveAll() error { return os.RemoveAll(l.Dir) }

// startLinkedSources starts the source members of a new cluster behind
// site routers (siteLink): each advertises the router's URL and listens
// behind it.
func (l *Local) startLinkedSources(ctx context.Context, names []string) ([]etcdmig.Target, error) {
	urls, err := etcdmig.FreeLoopbackURLs(2 * len(names))
	if err != nil {
		return nil, err
	}
	ts := make([]etcdmig.Target, len(names))
	var ic []string
	for i, n := range names {
		ts[i] = etcdmig.Target{Name: n, PeerURL: urls[2*i], ClientURL: urls[2*i+1]}
		ic = append(ic, n+"="+ts[i].PeerURL)
	}
	for i := range ts {
		if ts[i].ListenPeerURL, err = l.link.add(siteSource, ts[i].Name, ts[i].PeerURL); err != nil {
			return nil, err
		}
		if err := l.SrcEtcd.Start(ctx, etcdmig.MemberSpec{Name: ts[i].Name, PeerURL: ts[i].PeerURL, ClientURL: ts[i].ClientURL,
			ListenPeerURL: ts[i].ListenPeerURL, InitialCluster: strings.Join(ic, ","), ClusterState: "new",
			ClusterToken: "handover-cp"}); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// connect connects to the cluster at eps, retrying for up to a minute
// while its members find each other.
func connect(ctx context.Context, eps []string, clk clock.Clock) (*etcdmig.Cluster, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := etcdmig.Connect(ctx, eps, nil, clk)
		if err == nil {
			if _, err = c.Members(ctx); err == nil {
				return c, nil
			}
			_ = c.Close()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("source etcd cluster: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
