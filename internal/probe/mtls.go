package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// DefaultConfirmWait is MTLS.ConfirmWait when zero.
const DefaultConfirmWait = 250 * time.Millisecond

// MTLS is a probe that opens a fresh TCP connection and performs a full TLS
// 1.2/1.3 handshake on every attempt, with the client certificate and roots
// fetched from the funcs on every attempt (so callers can hot-swap them).
// Session resumption is off (no ClientSessionCache, SessionTicketsDisabled):
// every attempt verifies both chains from scratch.
//
// TLS 1.3 (RFC 8446 §4.4) completes the client's handshake before the server
// has verified the client certificate; a rejection arrives as an alert on the
// client's next read. Once therefore never reports success on Handshake alone:
//   - with Request set, it writes Request and needs at least one byte of
//     response (EOF first is ErrNoResponse);
//   - without Request, on TLS 1.3 when the server asked for a client
//     certificate, it sends close_notify and reads: the server's alert is a
//     failure, EOF (the server closed) or application data is success, and
//     no answer within ConfirmWait is success too (nothing rejected us). Go
//     and most servers close on EOF, so this costs one round trip; a server
//     that keeps the half-closed connection open costs ConfirmWait per
//     attempt, which shows in latency.
//
// TLS 1.2 verifies the client certificate inside the handshake, so no extra
// read is needed there.
type MTLS struct {
	// Addr is host:port to dial (TCP).
	Addr string
	// ServerName is verified against the server certificate (and sent as
	// SNI); "" = the host part of Addr.
	ServerName string
	// GetClientCertificate returns the certificate to present; nil func or
	// nil certificate = present none. Called once per attempt.
	GetClientCertificate func() (*tls.Certificate, error)
	// GetRootCAs returns the roots that verify the server; nil func or nil
	// pool = the system roots. Called once per attempt.
	GetRootCAs func() (*x509.CertPool, error)
	// Request is written after the handshake; nil = none (see above).
	Request []byte
	// ConfirmWait bounds the post-handshake read when Request is nil;
	// 0 = 250ms. It never extends past the attempt's deadline.
	ConfirmWait time.Duration
	// MaxVersion caps the TLS version (tls.VersionTLS12 or
	// tls.VersionTLS13); 0 = the newest crypto/tls supports.
	MaxVersion uint16
	// ProbeName overrides Name(); "" = "mtls".
	ProbeName string
	// Dial opens the TCP connection to Addr; nil = a net.Dialer. A test
	// maps addresses it cannot listen on (an EndpointSlice refuses
	// loopback) to its own 127.0.0.1 servers with it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Name returns ProbeName or "mtls".
func (m *MTLS) Name() string {
	if m.ProbeName != "" {
		return m.ProbeName
	}
	return "mtls"
}

// Once dials, handshakes and confirms as described on MTLS. Errors wrap the
// underlying net/tls/x509 error so Classify can type them; they carry no key
// material. A config problem (empty Addr, failing func) wraps
// ErrInvalidConfig or the func's error.
func (m *MTLS) Once(ctx context.Context) error {
	cfg, requested, err := m.config()
	if err != nil {
		return err
	}
	dial := m.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("mtls %s: dial: %w", m.Addr, err)
	}
	conn := tls.Client(raw, cfg)
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("mtls %s: handshake: %w", m.Addr, err)
	}
	if err := m.confirm(ctx, conn, requested.Load()); err != nil {
		return fmt.Errorf("mtls %s: after handshake: %w", m.Addr, err)
	}
	return nil
}

func (m *MTLS) config() (*tls.Config, *atomic.Bool, error) {
	if m.Addr == "" {
		return nil, nil, configError("MTLS", "Addr", "is empty")
	}
	serverName := m.ServerName
	if serverName == "" {
		host, _, err := net.SplitHostPort(m.Addr)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: MTLS.Addr %q: %w", ErrInvalidConfig, m.Addr, err)
		}
		serverName = host
	}
	var cert *tls.Certificate
	if m.GetClientCertificate != nil {
		c, err := m.GetClientCertificate()
		if err != nil {
			return nil, nil, fmt.Errorf("mtls %s: get client certificate: %w", m.Addr, err)
		}
		cert = c
	}
	var roots *x509.CertPool
	if m.GetRootCAs != nil {
		r, err := m.GetRootCAs()
		if err != nil {
			return nil, nil, fmt.Errorf("mtls %s: get root CAs: %w", m.Addr, err)
		}
		roots = r
	}
	requested := new(atomic.Bool)
	cfg := &tls.Config{
		ServerName:             serverName,
		RootCAs:                roots,
		MinVersion:             tls.VersionTLS12,
		MaxVersion:             m.MaxVersion,
		SessionTicketsDisabled: true,
		ClientSessionCache:     nil,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			requested.Store(true)
			if cert == nil {
				return &tls.Certificate{}, nil // send an empty Certificate message
			}
			return cert, nil
		},
	}
	return cfg, requested, nil
}

// confirm observes the server's verdict on our certificate (see MTLS).
func (m *MTLS) confirm(ctx context.Context, conn *tls.Conn, certRequested bool) error {
	buf := make([]byte, 1)
	if m.Request != nil {
		if _, err := conn.Write(m.Request); err != nil {
			return fmt.Errorf("write request: %w", err)
		}
		if _, err := conn.Read(buf); err != nil {
			if errors.Is(err, io.EOF) {
				return ErrNoResponse
			}
			return fmt.Errorf("read response: %w", err)
		}
		return nil
	}
	if !certRequested || conn.ConnectionState().Version != tls.VersionTLS13 {
		return nil
	}
	wait := m.ConfirmWait
	if wait == 0 {
		wait = DefaultConfirmWait
	}
	dl := time.Now().Add(wait)
	capped := false // the attempt's deadline comes first: its expiry is a timeout
	if ctxDl, ok := ctx.Deadline(); ok && ctxDl.Before(dl) {
		dl, capped = ctxDl, true
	}
	_ = conn.SetReadDeadline(dl)
	if err := conn.CloseWrite(); err != nil {
		return fmt.Errorf("close write: %w", err)
	}
	_, err := conn.Read(buf)
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded) && !capped:
		return nil // no rejection within ConfirmWait
	}
	return fmt.Errorf("confirm: %w", err)
}
