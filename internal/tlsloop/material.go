package tlsloop

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
)

// File names of a kubernetes.io/tls Secret with a CA bundle, as mounted.
const (
	FileCA   = "ca.crt"
	FileCert = "tls.crt"
	FileKey  = "tls.key"
)

// Snapshot is the content of one generation of a mounted volume.
type Snapshot struct {
	// Generation is the name of the timestamped directory ..data pointed to.
	Generation string
	// Files maps file name to content.
	Files map[string][]byte
}

// Source is a mounted volume (fleet.Volume): Generation names the current
// ..data target cheaply, Read returns the files of one generation.
type Source interface {
	Generation() (string, error)
	Read() (Snapshot, error)
}

// Material is one generation of a mounted kubernetes.io/tls Secret, parsed:
// the leaf it presents and the bundle it trusts.
type Material struct {
	Generation string
	Cert       tls.Certificate
	Roots      *x509.CertPool
	// Server is an mTLS server config: presents Cert, requires a client leaf
	// chaining to Roots, TLS 1.2+, no session tickets.
	Server *tls.Config
}

// ParseMaterial parses FileCA, FileCert and FileKey of s. A bad key pair
// returns the tls.X509KeyPair error; a bundle without a PEM certificate
// returns bundleErr (ErrNoCertificate when nil). Errors name the generation
// and the file, never the key bytes.
func ParseMaterial(s Snapshot, bundleErr error) (*Material, error) {
	cert, err := tls.X509KeyPair(s.Files[FileCert], s.Files[FileKey])
	if err != nil {
		return nil, fmt.Errorf("generation %s: %s/%s: %w", s.Generation, FileCert, FileKey, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.Files[FileCA]) {
		if bundleErr == nil {
			bundleErr = ErrNoCertificate
		}
		return nil, fmt.Errorf("generation %s: %s: %w", s.Generation, FileCA, bundleErr)
	}
	m := &Material{Generation: s.Generation, Cert: cert, Roots: roots}
	m.Server = &tls.Config{
		Certificates:           []tls.Certificate{cert},
		ClientCAs:              roots,
		ClientAuth:             tls.RequireAndVerifyClientCert,
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
	}
	return m, nil
}

// Loader re-reads Source when its ..data target changed (hot reload) and
// caches the parsed Material keyed by that target. Set the fields before
// first use; safe for concurrent use after.
type Loader struct {
	Source Source
	// BundleErr is passed to ParseMaterial (nil: ErrNoCertificate).
	BundleErr error

	mu  sync.Mutex
	cur *Material
}

// Load returns the Material of the source's current generation, or the
// Source's or ParseMaterial's error (the cache is kept on error).
func (l *Loader) Load() (*Material, error) {
	gen, err := l.Source.Generation()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil && l.cur.Generation == gen {
		return l.cur, nil
	}
	snap, err := l.Source.Read()
	if err != nil {
		return nil, err
	}
	m, err := ParseMaterial(snap, l.BundleErr)
	if err != nil {
		return nil, err
	}
	l.cur = m
	return m, nil
}

// StaticServerConfig loads now and returns that generation's server config,
// never re-read (a load-once server), or Load's error.
func (l *Loader) StaticServerConfig() (*tls.Config, error) {
	m, err := l.Load()
	if err != nil {
		return nil, err
	}
	return m.Server, nil
}

// ReloadingServerConfig returns a config that resolves the source per
// handshake (a hot-reload server); a handshake fails with Load's error. It
// does not load now.
func (l *Loader) ReloadingServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return l.StaticServerConfig()
		},
	}
}
