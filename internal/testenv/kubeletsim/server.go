package kubeletsim

import (
	"crypto/tls"

	"github.com/handover-dev/handover/internal/tlsloop"
)

// Request and Response are the application protocol of every simulated
// endpoint (tlsloop.Request, tlsloop.Response): after the handshake a
// client may write Request and the server answers Response; a client that
// only half-closes gets EOF back. A round trip lets a TLS 1.3 client observe
// a rejected client certificate (RFC 8446 §4.4.2: the server's alert arrives
// after the client's Finished).
var (
	Request  = []byte(tlsloop.Request)
	Response = []byte(tlsloop.Response)
)

// serverConfig returns the TLS config a new server runs with: a hot server
// resolves the volume per handshake; a load-once server parses it now and
// never again.
func serverConfig(reload Reload, ld *tlsloop.Loader) (*tls.Config, error) {
	if reload == ReloadLoadOnce {
		return ld.StaticServerConfig()
	}
	if _, err := ld.Load(); err != nil { // refuse to start without material, like a crashing container
		return nil, err
	}
	return ld.ReloadingServerConfig(), nil
}
