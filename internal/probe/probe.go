// Package probe measures availability during a transition: probes run at a
// fixed rate beside a plan, and every attempt becomes a Sample that the
// Recorder attributes to the plan phase running at that instant.
package probe

import (
	"context"
	"time"
)

// Probe is one kind of request against the system under change: an mTLS
// handshake, an HTTP GET, an etcd Put, a kube-apiserver read. Adding a probe
// kind means implementing Once.
//
// Once makes exactly one attempt and returns nil on success or the error that
// made it fail; it must honour ctx's deadline (the Runner sets one per
// attempt). It must be safe for concurrent use.
type Probe interface {
	// Name is stable and short ("mtls", "https", "etcd-put"); it labels samples.
	Name() string
	Once(ctx context.Context) error
}

// Sample is the outcome of one attempt.
type Sample struct {
	Probe   string        // Probe.Name()
	Target  string        // optional: which endpoint (e.g. "server-3")
	Start   time.Time     // from the Runner's injected clock
	Latency time.Duration // wall time of the attempt
	Err     error         // nil on success
	Class   string        // "" on success, else Classify(Err)
}

// OK reports whether the attempt succeeded.
func (s Sample) OK() bool { return s.Err == nil }

// Sink receives samples; implementations must be safe for concurrent use.
type Sink interface {
	Add(Sample)
}
