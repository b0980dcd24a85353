// Package rotation builds trust-rotation plans: it moves every consumer of a
// CA (servers and clients of an mTLS fleet, pods mounting a Secret) from an
// old CA to a new one. The plan talks to consumers only through Backend, which
// the local demo fleet (internal/fleet) and the Kubernetes operator implement.
package rotation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
)

// Role is what a consumer does in mTLS.
type Role string

const (
	// RoleServer accepts connections: it presents a server leaf and verifies
	// client leaves against its trust bundle.
	RoleServer Role = "server"
	// RoleClient dials: it presents a client leaf and verifies server leaves
	// against its trust bundle.
	RoleClient Role = "client"
)

// Reload says when a consumer picks up new certificates from its mount.
type Reload string

const (
	// ReloadHot consumers re-read their certificates when the mount changes
	// (Envoy SDS, Envoy Gateway's per-connection GetConfigForClient).
	ReloadHot Reload = "hot"
	// ReloadLoadOnce consumers read CA and leaf at start-up only (Envoy
	// Gateway's Rate Limit, envoyproxy/gateway#4891); they need a restart.
	ReloadLoadOnce Reload = "load-once"
)

// Consumer is one workload that mounts the rotated material (a Deployment in
// Kubernetes, a replica set of local servers in the demo fleet).
type Consumer struct {
	Name   string
	Role   Role
	Reload Reload
	// Addr is the address clients dial (a Service); "" for clients.
	Addr string
	// Replicas is the number of pods; the verifications handshake with each.
	Replicas int
}

// IssueFunc issues the leaf a consumer should present: PEM certificate (leaf
// first, then any intermediates) and PEM private key. It must not log the key.
type IssueFunc func(c Consumer) (certPEM, keyPEM []byte, err error)

// Backend is where the rotated material lives and how consumers restart. All
// methods re-derive the world (they may be called again after a crash) and
// return errors wrapped with %w; none of them logs key material.
type Backend interface {
	// Consumers lists every consumer, in a stable order.
	Consumers(ctx context.Context) ([]Consumer, error)
	// PublishTrustBundle writes bundlePEM (one or more CERTIFICATE blocks)
	// as the trust bundle (ca.crt) of every consumer. It returns when the
	// source of truth (the Secrets, the files) holds it, not when running
	// consumers have seen it: propagation is asynchronous.
	PublishTrustBundle(ctx context.Context, bundlePEM []byte) error
	// PublishLeaves writes a leaf from issue to every consumer's source of
	// truth; like PublishTrustBundle it does not wait for propagation.
	PublishLeaves(ctx context.Context, issue IssueFunc) error
	// RollingRestart replaces the consumer's pods one at a time, keeping at
	// least one serving (surge first), and returns when every replacement is
	// ready. A replacement starts with whatever its mount holds then.
	RollingRestart(ctx context.Context, c Consumer) error
	// VerifyAcceptsCA makes a live mTLS handshake plus one request with
	// every pod of c, offering probe (a leaf signed by the CA in question, with
	// server and client usages): a server must accept it as a client leaf, a
	// client must accept it as a server leaf. It returns nil when every pod
	// accepted, else an error naming the pod.
	VerifyAcceptsCA(ctx context.Context, c Consumer, probe tls.Certificate) error
	// VerifyPresentsLeafFrom handshakes with every pod of c (offering probe,
	// which c must already accept) and returns nil when every pod presented a
	// leaf that chains to roots, else an error naming the pod.
	VerifyPresentsLeafFrom(ctx context.Context, c Consumer, roots *x509.CertPool, probe tls.Certificate) error
}
