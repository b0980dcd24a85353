package tlsloop

import "errors"

var (
	// ErrNoCertificate is wrapped by ParseMaterial (and Loader.Load) when
	// ca.crt holds no PEM certificate and no other sentinel was configured.
	ErrNoCertificate = errors.New("no certificate in bundle")
)
