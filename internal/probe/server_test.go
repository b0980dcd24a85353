package probe

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
)

// tlsServer is a real TLS server on 127.0.0.1:0. After the handshake it runs
// handle (default: answer each read with "ok", close on EOF).
type tlsServer struct {
	addr string

	mu      sync.Mutex
	resumed int // handshakes that resumed a session
	done    int // handshakes that completed
}

func startTLSServer(t *testing.T, cfg *tls.Config, handle func(*tls.Conn)) *tlsServer {
	t.Helper()
	if handle == nil {
		handle = answerUntilEOF
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				conn := tls.Server(raw, cfg)
				defer conn.Close()
				if err := conn.Handshake(); err != nil {
					return
				}
				s.mu.Lock()
				s.done++
				if conn.ConnectionState().DidResume {
					s.resumed++
				}
				s.mu.Unlock()
				handle(conn)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s
}

func (s *tlsServer) counts() (done, resumed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done, s.resumed
}

// answerUntilEOF writes "ok" for every read and returns (closing the
// connection) on EOF or error.
func answerUntilEOF(c *tls.Conn) {
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
		if _, err := c.Write([]byte("ok")); err != nil {
			return
		}
	}
}

// closedAddr returns an address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentServer accepts TCP connections and never writes; it holds them until
// the client goes away.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}
