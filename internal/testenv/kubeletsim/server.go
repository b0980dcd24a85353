package kubeletsim

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Request and Response are the application protocol of every simulated
// endpoint: after the handshake a client may write Request and the server
// answers Response; a client that only half-closes gets EOF back. A round
// trip lets a TLS 1.3 client observe a rejected client certificate (RFC 8446
// §4.4.2: the server's alert arrives after the client's Finished).
var (
	Request  = []byte("ping\n")
	Response = []byte("pong\n")
)

// connDeadline bounds one served connection (handshake + one request).
const connDeadline = 5 * time.Second

// server is the process of one Running pod: an mTLS listener on 127.0.0.1.
type server struct {
	ln       net.Listener
	cfg      *tls.Config
	accepted atomic.Int64
	wg       sync.WaitGroup
}

// serverConfig returns the TLS config a new server runs with: a hot server
// resolves the volume per handshake; a load-once server parses it now and
// never again.
func serverConfig(reload Reload, ld *loader) (*tls.Config, error) {
	if reload == ReloadLoadOnce {
		m, err := ld.load()
		if err != nil {
			return nil, err
		}
		return m.server, nil
	}
	if _, err := ld.load(); err != nil { // refuse to start without material, like a crashing container
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m, err := ld.load()
			if err != nil {
				return nil, err
			}
			return m.server, nil
		},
	}, nil
}

func startServer(cfg *tls.Config) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{ln: ln, cfg: cfg}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.accepted.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			serveConn(conn, s.cfg)
		}()
	}
}

// stop waits (up to drainWait) until the server accepted `handed`
// connections, i.e. every connection a balancer dialed to it left the
// listen backlog, then closes the listener and waits for connections in
// flight: a graceful shutdown.
func (s *server) stop(handed int64, drainWait time.Duration) {
	deadline := time.Now().Add(drainWait)
	for s.accepted.Load() < handed && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = s.ln.Close()
	s.wg.Wait()
}

// serveConn handshakes, then answers one request line (or closes on EOF).
func serveConn(conn net.Conn, cfg *tls.Config) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(connDeadline))
	tc := tls.Server(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	line, err := bufio.NewReaderSize(tc, 64).ReadSlice('\n')
	if err != nil || string(line) != string(Request) {
		return
	}
	_, _ = tc.Write(Response)
	_ = tc.Close()
}
