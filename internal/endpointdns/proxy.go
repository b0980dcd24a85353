package endpointdns

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Proxy is an HTTP CONNECT proxy on 127.0.0.1 that dials through a
// Resolver, so an unmodified client (kubectl with HTTPS_PROXY set) resolves
// the endpoint name through the DNS server as if it were the system's. It
// only tunnels; TLS stays end to end.
type Proxy struct {
	l   net.Listener
	r   *Resolver
	wg  sync.WaitGroup
	mu  sync.Mutex
	cns map[net.Conn]struct{}
}

// ServeProxy starts a Proxy for r on a free 127.0.0.1 port.
func ServeProxy(r *Resolver) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, r: r, cns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// URL is "http://127.0.0.1:port" (for HTTPS_PROXY).
func (p *Proxy) URL() string { return "http://" + p.l.Addr().String() }

// Close stops accepting and closes open tunnels.
func (p *Proxy) Close() error {
	err := p.l.Close()
	p.mu.Lock()
	for c := range p.cns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.cns[c] = struct{}{}
	} else {
		delete(p.cns, c)
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *Proxy) serve(c net.Conn) {
	p.track(c, true)
	defer p.track(c, false)
	defer func() { _ = c.Close() }()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	up, err := p.r.DialContext(ctx, "tcp", req.Host)
	cancel()
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	defer func() { _ = up.Close() }()
	_ = c.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}
