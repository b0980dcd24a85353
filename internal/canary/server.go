package canary

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/trust"
)

// Server is handover's webhook endpoint: HTTPS on a loopback address with a
// serving leaf issued by a fresh CA of internal/trust (the CA's PEM is the
// caBundle of the webhook configuration). Handlers are added with Handle
// before or after Start.
type Server struct {
	mu       sync.RWMutex
	handlers map[string]http.Handler // by exact path

	srv *http.Server
	ln  net.Listener
	ca  []byte
}

// StartServer listens on addr (e.g. "127.0.0.1:0"), issues a CA and a
// server leaf for the listener's IP, and serves until Close. clk stamps the
// certificates (nil = real clock).
func StartServer(addr string, clk clock.PassiveClock) (*Server, error) {
	return StartServerFor(addr, nil, clk)
}

// StartServerFor is StartServer with dnsNames added to the leaf's SANs: a
// Service's "<name>.<namespace>.svc", which the apiserver checks when the
// webhook configuration names a Service.
func StartServerFor(addr string, dnsNames []string, clk clock.PassiveClock) (*Server, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	ip := ln.Addr().(*net.TCPAddr).IP
	now := clk.Now()
	ca, err := trust.NewCA(trust.CAOptions{CommonName: "handover canary webhook CA", Validity: 24 * time.Hour}, now)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("webhook CA: %w", err)
	}
	leaf, err := ca.IssueLeaf(trust.LeafOptions{CommonName: "handover canary webhook", IPAddresses: []net.IP{ip}, DNSNames: dnsNames, Usage: trust.UsageServer}, now)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("webhook serving certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(leaf.ChainPEM, leaf.KeyPEM)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("webhook serving certificate: %w", err)
	}
	s := &Server{handlers: map[string]http.Handler{}, ln: ln, ca: ca.CertPEM}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under us; Close reports nothing more useful
		}
	}()
	return s, nil
}

// Handle routes the exact path to h, replacing an earlier handler (a
// restarted worker registers its canary's webhook again).
func (s *Server) Handle(path string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
}

// Remove stops serving path (404 afterwards).
func (s *Server) Remove(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.handlers, path)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	h, ok := s.handlers[r.URL.Path]
	s.mu.RUnlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}

// URL is the base URL, "https://127.0.0.1:<port>".
func (s *Server) URL() string { return "https://" + s.ln.Addr().String() }

// CABundle is the PEM of the CA that signed the serving certificate.
func (s *Server) CABundle() []byte { return append([]byte(nil), s.ca...) }

// Close stops serving, waiting up to 5 s for requests in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
