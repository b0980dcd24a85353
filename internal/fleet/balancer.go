package fleet

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

const backendDialTimeout = time.Second

// balancer is a Service: one loopback port that round-robins each TCP
// connection to a ready backend (a replica), skipping backends it cannot
// dial. It proxies bytes; TLS is end to end between client and replica.
type balancer struct {
	ln net.Listener

	// mu is held across pick+dial, so set() returns only once no
	// connection is being dialed to a backend it removed.
	mu       sync.Mutex
	backends []string
	dialed   map[string]int64 // connections established per backend
	next     int

	wg sync.WaitGroup
}

func newBalancer() (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &balancer{ln: ln, dialed: map[string]int64{}}
	b.wg.Add(1)
	go b.acceptLoop()
	return b, nil
}

func (b *balancer) addr() string { return b.ln.Addr().String() }

// set replaces the backends and returns how many connections were
// established so far to each removed backend (for draining).
func (b *balancer) set(backends []string) map[string]int64 {
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

func (b *balancer) acceptLoop() {
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

func (b *balancer) dialBackend() net.Conn {
	b.mu.Lock() // loopback dials are short
	defer b.mu.Unlock()
	n := len(b.backends)
	for i := range n {
		a := b.backends[(b.next+i)%n]
		c, err := net.DialTimeout("tcp", a, backendDialTimeout)
		if err == nil {
			b.next = (b.next + i + 1) % n
			b.dialed[a]++
			return c
		}
	}
	return nil
}

func (b *balancer) proxy(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(connDeadline))
	back := b.dialBackend()
	if back == nil {
		return // no ready replica: the client sees the connection closed
	}
	defer func() { _ = back.Close() }()
	_ = back.SetDeadline(time.Now().Add(connDeadline))
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

// close stops accepting and waits for proxied connections.
func (b *balancer) close() {
	_ = b.ln.Close()
	b.wg.Wait()
}
