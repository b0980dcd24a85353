package fleet

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
)

// material is one generation of a pod's mount, parsed: the leaf it presents
// and the bundle it trusts, with the TLS configs derived from them.
type material struct {
	gen    string
	cert   tls.Certificate
	roots  *x509.CertPool
	server *tls.Config // mTLS server: presents cert, requires a client leaf chaining to roots
}

// parseMaterial parses ca.crt, tls.crt and tls.key of s. Errors name the
// generation and the file, never the key bytes.
func parseMaterial(s Snapshot) (*material, error) {
	cert, err := tls.X509KeyPair(s.Files[FileCert], s.Files[FileKey])
	if err != nil {
		return nil, fmt.Errorf("generation %s: %s/%s: %w", s.Generation, FileCert, FileKey, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.Files[FileCA]) {
		return nil, fmt.Errorf("generation %s: %s: %w", s.Generation, FileCA, ErrInvalidPayload)
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

// loader re-reads a volume when its ..data target changed (hot reload) and
// caches the parsed material keyed by that target.
type loader struct {
	vol *Volume
	mu  sync.Mutex
	cur *material
}

// load returns the material of the volume's current generation.
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
