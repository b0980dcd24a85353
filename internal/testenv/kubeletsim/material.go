package kubeletsim

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"

	"github.com/handover-dev/handover/internal/fleet"
)

// material is one generation of a mounted kubernetes.io/tls Secret, parsed.
type material struct {
	gen    string
	cert   tls.Certificate
	roots  *x509.CertPool
	server *tls.Config // presents cert, requires a client leaf chaining to roots
}

// parseMaterial parses ca.crt, tls.crt and tls.key of a snapshot. Errors
// name the generation and the file, never the key bytes.
func parseMaterial(s fleet.Snapshot) (*material, error) {
	cert, err := tls.X509KeyPair(s.Files[fleet.FileCert], s.Files[fleet.FileKey])
	if err != nil {
		return nil, fmt.Errorf("generation %s: %s/%s: %w", s.Generation, fleet.FileCert, fleet.FileKey, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.Files[fleet.FileCA]) {
		return nil, fmt.Errorf("generation %s: %s: %w", s.Generation, fleet.FileCA, ErrMissingSource)
	}
	m := &material{gen: s.Generation, cert: cert, roots: roots}
	m.server = &tls.Config{
		Certificates:           []tls.Certificate{cert},
		ClientCAs:              roots,
		ClientAuth:             tls.RequireAndVerifyClientCert,
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
	}
	return m, nil
}

// loader re-reads a volume when its ..data target changed and caches the
// parsed material keyed by that target.
type loader struct {
	vol *fleet.Volume
	mu  sync.Mutex
	cur *material
}

func (l *loader) load() (*material, error) {
	gen, err := l.vol.Generation()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil && l.cur.gen == gen {
		return l.cur, nil
	}
	snap, err := l.vol.Read()
	if err != nil {
		return nil, err
	}
	m, err := parseMaterial(snap)
	if err != nil {
		return nil, err
	}
	l.cur = m
	return m, nil
}

// Mount is a Secret mounted outside any pod (a client's certificate
// directory), synced with the same delay as pod volumes. Its methods re-read
// the directory on every call (hot reload), so they fit probe.MTLS's
// GetClientCertificate and GetRootCAs.
type Mount struct {
	ld  *loader
	dir string
}

// Dir is the mount's directory (kubelet layout: ..data, timestamped dirs).
func (m *Mount) Dir() string { return m.dir }

// Certificate returns tls.crt/tls.key as they are on disk now; an error
// (never containing key bytes) before the first sync or on a bad pair.
func (m *Mount) Certificate() (*tls.Certificate, error) {
	mat, err := m.ld.load()
	if err != nil {
		return nil, err
	}
	return &mat.cert, nil
}

// RootCAs returns the pool of ca.crt as it is on disk now.
func (m *Mount) RootCAs() (*x509.CertPool, error) {
	mat, err := m.ld.load()
	if err != nil {
		return nil, err
	}
	return mat.roots, nil
}
