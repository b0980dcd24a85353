package etcd

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// peerProxies are in-process toxiproxy proxies in front of each source
// member's peer listener: the member advertises the proxy's URL and
// listens behind it. etcd's stream reader dials the peer that writes to
// it, so every raft message a member sends crosses its own proxy, as do
// the snapshots and pipelined messages others send it; the messages it
// receives from a peer's stream cross that peer's proxy. A toxic on one
// member's proxy therefore cuts or delays what it says to the cluster
// while it still hears the leader's heartbeats (it does not campaign).
type peerProxies map[string]*toxiproxy.Proxy

// proxiedProcessCluster is processCluster with every member behind a peer
// proxy; the proxies stop at the test's end.
func proxiedProcessCluster(t *testing.T, prov *etcdmig.Process, n int) ([]etcdmig.Target, peerProxies, map[string]etcdmig.MemberSpec) {
	t.Helper()
	ctx := context.Background()
	urls, err := etcdmig.FreeLoopbackURLs(3 * n)
	if err != nil {
		t.Fatal(err)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	pp := peerProxies{}
	specs := map[string]etcdmig.MemberSpec{}
	var ms []etcdmig.Target
	var ic []string
	for i := range n {
		m := etcdmig.Target{Name: fmt.Sprintf("s%d", i+1), PeerURL: urls[3*i], ClientURL: urls[3*i+1], ListenPeerURL: urls[3*i+2]}
		front, _ := url.Parse(m.PeerURL)
		back, _ := url.Parse(m.ListenPeerURL)
		p := toxiproxy.NewProxy(srv, m.Name, front.Host, back.Host)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		pp[m.Name] = p
		ms = append(ms, m)
		ic = append(ic, m.Name+"="+m.PeerURL)
	}
	for _, m := range ms {
		t.Cleanup(func() { _ = prov.Stop(context.Background(), m.Name) })
		spec := etcdmig.MemberSpec{Name: m.Name, PeerURL: m.PeerURL, ClientURL: m.ClientURL, ListenPeerURL: m.ListenPeerURL,
			InitialCluster: strings.Join(ic, ","), ClusterState: "new", ClusterToken: "fault-test"}
		specs[m.Name] = spec
		if err := prov.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	return ms, pp, specs
}

// partition drops everything both ways on name's proxy (a toxiproxy
// timeout toxic with no timeout: connections stay open, data is lost).
func (pp peerProxies) partition(t *testing.T, name string) {
	t.Helper()
	for _, dir := range []string{"upstream", "downstream"} {
		pp.add(t, name, fmt.Sprintf(`{"name":"partition-%s","type":"timeout","stream":%q,"toxicity":1,"attributes":{"timeout":0}}`, dir, dir))
	}
}

// heal removes the partition: toxiproxy closes the connections that
// crossed it and etcd dials again.
func (pp peerProxies) heal(t *testing.T, name string) {
	t.Helper()
	for _, dir := range []string{"upstream", "downstream"} {
		if err := pp[name].Toxics.RemoveToxic(context.Background(), "partition-"+dir); err != nil {
			t.Errorf("heal %s: %v", name, err)
		}
	}
}

// delay adds d of latency to what name sends its peers.
func (pp peerProxies) delay(t *testing.T, name string, d time.Duration) {
	t.Helper()
	pp.add(t, name, fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d,"jitter":0}}`, d.Milliseconds()))
}

func (pp peerProxies) add(t *testing.T, name, toxic string) {
	t.Helper()
	p, ok := pp[name]
	if !ok {
		t.Fatalf("no peer proxy for %s", name)
	}
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		t.Fatalf("toxic on %s: %v", name, err)
	}
}
