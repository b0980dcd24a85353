// Package tlsloop provides loopback mTLS endpoints for demos and tests: a
// Server (one TLS listener on 127.0.0.1 speaking a one-line
// request/response protocol), a Balancer (one loopback port that
// round-robins TCP connections over backends, like a Service's cluster IP)
// and Material/Loader (a mounted kubernetes.io/tls volume, parsed into the
// configs a Server runs with, re-read when the volume's ..data target
// changes).
//
// The protocol: after the handshake the client writes Request and the
// server answers Response; a client that only half-closes gets EOF back. The
// round trip lets a TLS 1.3 client observe a rejected client certificate
// (RFC 8446 §4.4.2: the server's alert arrives after the client's Finished).
//
// Nothing here logs, and no error carries key bytes.
package tlsloop

import "time"

// Request and Response are the application protocol of every Server.
const (
	Request  = "ping\n"
	Response = "pong\n"
)

// ConnDeadline bounds one served or proxied connection (handshake plus one
// request/response).
const ConnDeadline = 5 * time.Second

// BackendDialTimeout bounds one Balancer dial to a backend.
const BackendDialTimeout = time.Second
