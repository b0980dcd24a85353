package localcp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// Sites of the latency model.
const (
	siteSource = "source"
	siteTarget = "target"
)

// siteLink models two sites RTT apart on one host, for the etcd peer
// traffic — the only traffic of the demo that crosses the sites: each
// apiserver talks to the etcd members of its own site, and the API clients
// (probes, kubectl) stand outside both sites, equally far from either (no
// latency).
//
// Every member (source and target) advertises a peer URL that is a router:
// it reads the first HTTP request head of each connection. etcd's rafthttp
// stream GETs and pipeline and snapshot POSTs carry X-Server-From, the
// dialing member's ID (hex). A dialer on the other site is sent through the
// member's in-process toxiproxy (github.com/Shopify/toxiproxy), whose
// latency toxics delay each direction by RTT/2; a dialer on the same site,
// or an unknown one (/version, /members, health probes), goes straight to
// the member. So every raft message between the sites takes RTT/2 one way
// whichever member dialled (the round trip is RTT), and messages within a
// site none — the previous model delayed only what target members sent,
// including to each other.
type siteLink struct {
	rtt time.Duration
	// cluster answers which member dialled (set once the cluster exists;
	// until then every dialer is unknown, and the sources start unhurried).
	cluster atomic.Pointer[etcdmig.Cluster]
	srv     *toxiproxy.ApiServer

	mu      sync.Mutex
	proxies []*toxiproxy.Proxy
	fronts  []net.Listener
	siteOf  map[string]string // front host:port → site
	idSite  map[uint64]string // member ID → site (cache)
	closing bool
}

// newSiteLink returns a link with no members.
func newSiteLink(rtt time.Duration) *siteLink {
	return &siteLink{rtt: rtt,
		srv:    toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()),
		siteOf: map[string]string{}, idSite: map[uint64]string{}}
}

// add fronts a member of site whose advertised peer URL is frontURL: the
// router listens there, and the member must listen on the returned URL.
func (l *siteLink) add(site, name, frontURL string) (string, error) {
	front, err := url.Parse(frontURL)
	if err != nil {
		return "", err
	}
	urls, err := etcdmig.FreeLoopbackURLs(2)
	if err != nil {
		return "", err
	}
	member, delayed := mustHost(urls[0]), mustHost(urls[1])
	p := toxiproxy.NewProxy(l.srv, name, delayed, member)
	if err := p.Start(); err != nil {
		return "", fmt.Errorf("site latency proxy for %s: %w", name, err)
	}
	half := l.rtt.Milliseconds() / 2
	for _, stream := range []string{"upstream", "downstream"} {
		toxic := fmt.Sprintf(`{"name":"site-%s","type":"latency","stream":%q,"toxicity":1,"attributes":{"latency":%d,"jitter":0}}`, stream, stream, half)
		if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
			p.Stop()
			return "", fmt.Errorf("site latency toxic for %s: %w", name, err)
		}
	}
	ln, err := net.Listen("tcp", front.Host)
	if err != nil {
		p.Stop()
		return "", fmt.Errorf("site router for %s: %w", name, err)
	}
	l.mu.Lock()
	l.proxies = append(l.proxies, p)
	l.fronts = append(l.fronts, ln)
	l.siteOf[front.Host] = site
	l.mu.Unlock()
	go l.serve(ln, site, member, delayed)
	return urls[0], nil
}

func mustHost(u string) string {
	p, _ := url.Parse(u)
	return p.Host
}

func (l *siteLink) serve(ln net.Listener, site, member, delayed string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closing {
			l.mu.Unlock()
			_ = c.Close()
			return
		}
		l.mu.Unlock()
		go l.route(c, site, member, delayed)
	}
}

// route reads the request head, picks the direct or the delayed path by
// the dialer's site, replays what it read and pipes both ways.
func (l *siteLink) route(c net.Conn, site, member, delayed string) {
	defer func() { _ = c.Close() }()
	var head bytes.Buffer
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(c, &head)))
	_ = c.SetReadDeadline(time.Time{})
	to := member
	if err == nil {
		if from, perr := strconv.ParseUint(req.Header.Get("X-Server-From"), 16, 64); perr == nil {
			if s := l.dialerSite(from); s != "" && s != site {
				to = delayed
			}
		}
	}
	up, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer func() { _ = up.Close() }()
	if _, err := up.Write(head.Bytes()); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// dialerSite returns the site of member id ("" when unknown), asking the
// cluster on a cache miss.
func (l *siteLink) dialerSite(id uint64) string {
	l.mu.Lock()
	s, ok := l.idSite[id]
	l.mu.Unlock()
	if ok {
		return s
	}
	c := l.cluster.Load()
	if c == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ms, err := c.Members(ctx)
	if err != nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range ms {
		for _, pu := range m.PeerURLs {
			if u, err := url.Parse(pu); err == nil && l.siteOf[u.Host] != "" {
				l.idSite[m.ID] = l.siteOf[u.Host]
			}
		}
	}
	return l.idSite[id]
}

// Close stops the routers, the proxies and the connections through them.
func (l *siteLink) Close() {
	l.mu.Lock()
	l.closing = true
	fronts, proxies := l.fronts, l.proxies
	l.mu.Unlock()
	for _, ln := range fronts {
		_ = ln.Close()
	}
	for _, p := range proxies {
		p.Stop()
	}
}
