package localcp

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// siteLink puts an in-process toxiproxy (github.com/Shopify/toxiproxy) in
// front of each target member's peer listener: the member advertises the
// proxy's URL and listens behind it. etcd's stream reader dials the peer
// that writes to it, so every raft message a target member sends to a
// member that dialled its advertised URL crosses the proxy and is delayed
// by the site latency (the downstream direction): the round trip from a
// source leader to a target follower and back grows by that latency.
// Messages the targets receive come over connections they dialled
// themselves, undelayed; target-to-target traffic crosses a proxy too, so
// after the move the target site behaves as far from itself (a
// simplification of the demo).
type siteLink struct {
	proxies []*toxiproxy.Proxy
}

// newSiteLink rewrites targets: PeerURL becomes the proxy's URL (on the
// port drawn for it), ListenPeerURL a fresh loopback URL behind it.
func newSiteLink(targets []etcdmig.Target, latency time.Duration) (*siteLink, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	behind, err := etcdmig.FreeLoopbackURLs(len(targets))
	if err != nil {
		return nil, err
	}
	l := &siteLink{}
	for i := range targets {
		front, err := url.Parse(targets[i].PeerURL)
		if err != nil {
			return nil, err
		}
		back, err := url.Parse(behind[i])
		if err != nil {
			return nil, err
		}
		p := toxiproxy.NewProxy(srv, targets[i].Name, front.Host, back.Host)
		if err := p.Start(); err != nil {
			l.Close()
			return nil, fmt.Errorf("site latency proxy for %s: %w", targets[i].Name, err)
		}
		l.proxies = append(l.proxies, p)
		toxic := fmt.Sprintf(`{"name":"site","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d,"jitter":0}}`, latency.Milliseconds())
		if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
			l.Close()
			return nil, fmt.Errorf("site latency toxic for %s: %w", targets[i].Name, err)
		}
		targets[i].ListenPeerURL = behind[i]
	}
	return l, nil
}

// Close stops the proxies.
func (l *siteLink) Close() {
	for _, p := range l.proxies {
		p.Stop()
	}
}
