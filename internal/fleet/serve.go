package fleet

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The application protocol of every fleet endpoint: after the handshake the
// client writes request and the server answers response. The round trip makes
// a client observe a rejected client certificate under TLS 1.3 (RFC 8446
// §4.4.2: the server's alert arrives after the client's Finished).
var (
	request  = []byte("ping\n")
	response = []byte("pong\n")
)

// connDeadline bounds one served connection (handshake + one request).
const connDeadline = 5 * time.Second

// instance is one running server process: a TLS listener on 127.0.0.1.
type instance struct {
	ln       net.Listener
	cfg      *tls.Config
	accepted atomic.Int64 // connections accepted
	direct   atomic.Int64 // connections dialed to it directly (not via a balancer)
	wg       sync.WaitGroup
}

// startInstance listens on an ephemeral loopback port and serves cfg.
func startInstance(cfg *tls.Config) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in := &instance{ln: ln, cfg: cfg}
	in.wg.Add(1)
	go in.acceptLoop()
	return in, nil
}

func (in *instance) addr() string { return in.ln.Addr().String() }

func (in *instance) acceptLoop() {
	defer in.wg.Done()
	for {
		conn, err := in.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		in.accepted.Add(1)
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			serveConn(conn, in.cfg)
		}()
	}
}

// stop closes the listener and waits for the connections in flight.
func (in *instance) stop() {
	_ = in.ln.Close()
	in.wg.Wait()
}

// serveConn handshakes, reads one request line and answers.
func serveConn(conn net.Conn, cfg *tls.Config) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(connDeadline))
	tc := tls.Server(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	line, err := bufio.NewReaderSize(tc, 64).ReadSlice('\n')
	if err != nil || string(line) != string(request) {
		return
	}
	_, _ = tc.Write(response)
	_ = tc.Close()
}
