package tlsloop

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// drainPoll is how often Stop checks whether the expected connections
// were accepted.
const drainPoll = time.Millisecond

// Server is one running server process: a TLS listener on 127.0.0.1 that
// handshakes each connection with its config, then answers one Request line
// with Response (any other line, or EOF, closes the connection). Safe for
// concurrent use.
type Server struct {
	ln       net.Listener
	cfg      *tls.Config
	clk      clock.Clock
	accepted atomic.Int64 // connections accepted
	direct   atomic.Int64 // connections dialed to it directly (not via a Balancer)
	wg       sync.WaitGroup
}

// ServerOption configures NewServer.
type ServerOption func(*Server)

// WithClock sets the clock Stop's bounded drain wait runs on (default
// clock.RealClock).
func WithClock(clk clock.Clock) ServerOption { return func(s *Server) { s.clk = clk } }

// NewServer listens on an ephemeral 127.0.0.1 port and serves cfg (which
// may resolve per handshake via GetConfigForClient). It returns the listen
// error, if any.
func NewServer(cfg *tls.Config, opts ...ServerOption) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return Serve(ln, cfg, opts...), nil
}

// Serve is NewServer on a listener the caller opened (e.g. a pod's
// 0.0.0.0:8443); the Server owns ln from now on and closes it in Stop.
func Serve(ln net.Listener, cfg *tls.Config, opts ...ServerOption) *Server {
	s := &Server{ln: ln, cfg: cfg, clk: clock.RealClock{}}
	for _, o := range opts {
		o(s)
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// Addr is the server's listen address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Accepted is the number of connections accepted so far.
func (s *Server) Accepted() int64 { return s.accepted.Load() }

// CountDirect records one connection about to be dialed to s directly, not
// through a Balancer; Stop waits for it to be accepted too. Call it before
// dialing.
func (s *Server) CountDirect() { s.direct.Add(1) }

// Stop is a graceful shutdown: it waits (at most drainWait) until the server
// accepted handed connections plus those recorded by CountDirect, i.e. every
// connection a Balancer (handed, from Balancer.Set) or a direct dialer
// established to it left the listen backlog; then it closes the listener
// and waits for the connections in flight. Stop(0, 0) closes at once.
func (s *Server) Stop(handed int64, drainWait time.Duration) {
	deadline := s.clk.Now().Add(drainWait)
	for s.accepted.Load() < handed+s.direct.Load() && s.clk.Now().Before(deadline) {
		s.clk.Sleep(drainPoll)
	}
	_ = s.ln.Close()
	s.wg.Wait()
}

func (s *Server) acceptLoop() {
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

// serveConn handshakes, then answers one request line (or closes on EOF).
func serveConn(conn net.Conn, cfg *tls.Config) {
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(ConnDeadline))
	tc := tls.Server(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	line, err := bufio.NewReaderSize(tc, 64).ReadSlice('\n')
	if err != nil || string(line) != Request {
		return
	}
	_, _ = tc.Write([]byte(Response))
	_ = tc.Close()
}
