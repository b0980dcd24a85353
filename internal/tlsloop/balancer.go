package tlsloop

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Balancer is one loopback port that round-robins each accepted TCP
// connection over its backends (host:port strings), skipping a backend it
// cannot dial within BackendDialTimeout. It proxies bytes; TLS is end to end
// between client and backend. A connection that finds no dialable backend
// is closed at once. Safe for concurrent use.
type Balancer struct {
	ln net.Listener

	// mu is held across pick+dial, so Set returns only once no connection
	// is being dialed to a backend it removed.
	mu       sync.Mutex
	backends []string
	dialed   map[string]int64 // connections established per backend
	next     int

	wg sync.WaitGroup
}

// NewBalancer listens on an ephemeral 127.0.0.1 port with no backends. It
// returns the listen error, if any.
func NewBalancer() (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Balancer{ln: ln, dialed: map[string]int64{}}
	b.wg.Add(1)
	go b.acceptLoop()
	return b, nil
}

// Addr is the balancer's listen address, "127.0.0.1:port".
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// Set replaces the backends (order is the round-robin order) and returns,
// for each backend it removed, how many connections were established to it
// so far: the count a Server passes to Stop to drain. Set(nil) removes all.
func (b *Balancer) Set(backends []string) map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := map[string]bool{}
	for _, a := range backends {
		keep[a] = true
	}
	removed := map[string]int64{}
	for _, a := range b.backends {
		if !keep[a] {
			removed[a] = b.dialed[a]
			delete(b.dialed, a)
		}
	}
	b.backends = append([]string(nil), backends...)
	return removed
}

// Backends returns a copy of the current backends.
func (b *Balancer) Backends() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.backends...)
}

// Close stops accepting and waits for the proxied connections to end.
func (b *Balancer) Close() {
	_ = b.ln.Close()
	b.wg.Wait()
}

func (b *Balancer) acceptLoop() {
	defer b.wg.Done()
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.proxy(conn)
		}()
	}
}

func (b *Balancer) dialBackend() net.Conn {
	b.mu.Lock() // loopback dials are short
	defer b.mu.Unlock()
	n := len(b.backends)
	for i := range n {
		a := b.backends[(b.next+i)%n]
		c, err := net.DialTimeout("tcp", a, BackendDialTimeout)
		if err == nil {
			b.next = (b.next + i + 1) % n
			b.dialed[a]++
			return c
		}
	}
	return nil
}

func (b *Balancer) proxy(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(ConnDeadline))
	back := b.dialBackend()
	if back == nil {
		return // no ready backend: the client sees the connection closed
	}
	defer func() { _ = back.Close() }()
	_ = back.SetDeadline(time.Now().Add(ConnDeadline))
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(back, conn)
		if tc, ok := back.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(conn, back)
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	<-done
}
