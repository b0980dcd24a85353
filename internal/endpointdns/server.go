package endpointdns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Server is an authoritative DNS server for one name on 127.0.0.1 (UDP and
// TCP on the same port). It answers A queries for the name with the current
// addresses and TTL (authoritative answer, AA set); other names get
// NXDOMAIN. Safe for concurrent use.
type Server struct {
	name string
	addr string // "127.0.0.1:port"
	udp  *dns.Server
	tcp  *dns.Server

	mu      sync.Mutex
	addrs   []netip.Addr
	ttl     time.Duration
	queries int64
}

// Serve starts a Server for name with addrs and ttl (whole seconds, ≥ 1 s)
// on 127.0.0.1 at a free port. Close stops it.
func Serve(name string, addrs []netip.Addr, ttl time.Duration) (*Server, error) {
	fq, err := Canonical(name)
	if err != nil {
		return nil, err
	}
	as, err := validAddrs(addrs)
	if err != nil {
		return nil, err
	}
	if ttl < time.Second || ttl%time.Second != 0 {
		return nil, fmt.Errorf("%w: ttl %s: want whole seconds ≥ 1s", ErrInvalid, ttl)
	}
	pc, l, err := listenUDPAndTCP()
	if err != nil {
		return nil, err
	}
	s := &Server{name: fq, addr: pc.LocalAddr().String(), addrs: as, ttl: ttl}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", s.handle)
	s.udp = &dns.Server{PacketConn: pc, Handler: mux}
	s.tcp = &dns.Server{Listener: l, Handler: mux}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	<-started
	<-started
	return s, nil
}

// listenUDPAndTCP binds UDP and TCP on one free loopback port (DNS serves
// both on the same port). The kernel picks a free UDP port; the same TCP
// port may be taken, so it tries again with a new port, at most 20 times.
func listenUDPAndTCP() (net.PacketConn, net.Listener, error) {
	var last error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		_ = pc.Close()
		last = err
	}
	return nil, nil, fmt.Errorf("no loopback port free for both UDP and TCP: %w", last)
}

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// Kind returns "server".
func (s *Server) Kind() string { return "server" }

// Name returns the fully qualified name served.
func (s *Server) Name() string { return s.name }

// Get returns the current record.
func (s *Server) Get(context.Context) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Entry{Name: s.name, Addrs: append([]netip.Addr(nil), s.addrs...), TTL: s.ttl}, nil
}

// Set replaces the addresses.
func (s *Server) Set(_ context.Context, addrs []netip.Addr) error {
	as, err := validAddrs(addrs)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs = as
	return nil
}

// SetTTL changes the TTL of later answers (whole seconds ≥ 1 s).
func (s *Server) SetTTL(ttl time.Duration) error {
	if ttl < time.Second || ttl%time.Second != 0 {
		return fmt.Errorf("%w: ttl %s: want whole seconds ≥ 1s", ErrInvalid, ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = ttl
	return nil
}

// Queries is the number of queries answered so far.
func (s *Server) Queries() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// Close stops both listeners.
func (s *Server) Close() error {
	err1 := s.udp.Shutdown()
	err2 := s.tcp.Shutdown()
	if err1 != nil {
		return err1
	}
	return err2
}

func (s *Server) handle(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	s.mu.Lock()
	s.queries++
	addrs, ttl := s.addrs, uint32(s.ttl/time.Second) //nolint:gosec // G115: Serve and SetTTL bound the TTL to whole seconds ≥ 1 set by the caller
	s.mu.Unlock()
	for _, qq := range q.Question {
		if dns.CanonicalName(qq.Name) != s.name {
			m.Rcode = dns.RcodeNameError
			continue
		}
		if qq.Qtype != dns.TypeA && qq.Qtype != dns.TypeANY {
			continue // NOERROR, no data (RFC 2308 §2.2)
		}
		for _, a := range addrs {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: s.name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   net.IP(a.AsSlice()),
			})
		}
	}
	_ = w.WriteMsg(m)
}
