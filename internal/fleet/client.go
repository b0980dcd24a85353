package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"

	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/tlsloop"
)

// client is a dialing consumer with one pod. Hot-reload clients resolve
// their mount on every attempt; load-once clients keep what they read at
// (re)start.
type client struct {
	c      *consumer
	static atomic.Pointer[tlsloop.Material]
}

func (cl *client) pod() *pod { return cl.c.pods[0] }

// start loads the material a load-once client keeps.
func (cl *client) start() error {
	if cl.c.reload != rotation.ReloadLoadOnce {
		return nil
	}
	m, err := cl.pod().ld.Load()
	if err != nil {
		return fmt.Errorf("client %s: %w", cl.c.name, err)
	}
	cl.static.Store(m)
	return nil
}

// material returns what the client presents and trusts right now.
func (cl *client) material() (*tlsloop.Material, error) {
	if cl.c.reload == rotation.ReloadLoadOnce {
		return cl.static.Load(), nil
	}
	return cl.pod().ld.Load()
}

func (cl *client) clientCertificate() (*tls.Certificate, error) {
	m, err := cl.material()
	if err != nil {
		return nil, err
	}
	return &m.Cert, nil
}

func (cl *client) rootCAs() (*x509.CertPool, error) {
	m, err := cl.material()
	if err != nil {
		return nil, err
	}
	return m.Roots, nil
}

// probeFor returns the mTLS probe this client runs against server s: a new
// TCP connection and full handshake per attempt, then one request/response.
func (cl *client) probeFor(s *server) *probe.MTLS {
	return &probe.MTLS{
		Addr:                 s.lb.Addr(),
		ServerName:           s.c.name,
		GetClientCertificate: cl.clientCertificate,
		GetRootCAs:           cl.rootCAs,
		Request:              []byte(tlsloop.Request),
	}
}

// restart mounts the current secret (mount) and, after startup, re-reads
// it (a load-once client's restart).
func (cl *client) restart(ctx context.Context, mount func(*pod) error, startup func(context.Context) error) error {
	if err := mount(cl.pod()); err != nil {
		return fmt.Errorf("restart %s: mount: %w", cl.c.name, err)
	}
	if err := startup(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", cl.c.name, err)
	}
	return cl.start()
}
