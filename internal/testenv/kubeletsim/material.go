package kubeletsim

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/handover-dev/handover/internal/tlsloop"
)

// Mount is a Secret mounted outside any pod (a client's certificate
// directory), synced with the same delay as pod volumes. Its methods resolve
// ..data on every call and re-read the files when it changed (hot reload;
// tlsloop.Loader), so they fit probe.MTLS's GetClientCertificate and
// GetRootCAs.
type Mount struct {
	ld  *tlsloop.Loader
	dir string
}

// Dir is the mount's directory (kubelet layout: ..data, timestamped dirs).
func (m *Mount) Dir() string { return m.dir }

// Certificate returns tls.crt/tls.key as they are on disk now; an error
// (never containing key bytes) before the first sync or on a bad pair.
func (m *Mount) Certificate() (*tls.Certificate, error) {
	mat, err := m.ld.Load()
	if err != nil {
		return nil, err
	}
	return &mat.Cert, nil
}

// RootCAs returns the pool of ca.crt as it is on disk now.
func (m *Mount) RootCAs() (*x509.CertPool, error) {
	mat, err := m.ld.Load()
	if err != nil {
		return nil, err
	}
	return mat.Roots, nil
}
