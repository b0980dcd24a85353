package backend

import (
	"context"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/rotation"
)

// Annotations this package writes (defined in api/v1alpha1).
const (
	AnnotationPublishedAt = v1alpha1.AnnotationPublishedAt
	AnnotationBundleHash  = v1alpha1.AnnotationBundleHash
	AnnotationRestartedAt = v1alpha1.AnnotationRestartedAt
	AnnotationEvictedFor  = v1alpha1.AnnotationEvictedFor
	AnnotationEvicting    = v1alpha1.AnnotationEvicting
)

// Defaults of Options.
const (
	DefaultProbeTimeout       = 5 * time.Second
	DefaultEvictionRetry      = 2 * time.Second
	DefaultPollInterval       = time.Second
	DefaultPodReadyEstimate   = 30 * time.Second
	DefaultPropagationTimeout = 90 * time.Second
	DefaultGracePeriod        = time.Hour
	// bundleKey is the key of the trust bundle in a leaf Secret.
	bundleKey = "ca.crt"
)

// CertificateIssuer issues the leaf of one spec.certificates entry: PEM chain
// (leaf first) and PEM private key of the leaf. It must not log the key.
type CertificateIssuer func(cert v1alpha1.CertificateSpec) (chainPEM, keyPEM []byte, err error)

// Options tune a Backend; the zero value is usable.
type Options struct {
	// Clock stamps publishes and times waits; nil = the real clock.
	Clock clock.Clock
	// ProbeTimeout bounds each verification handshake; default 5s.
	ProbeTimeout time.Duration
	// EvictionRetry is the wait after a 429 from the Eviction API; default 2s.
	EvictionRetry time.Duration
	// PollInterval is the wait between rollout/pod status reads; default 1s.
	PollInterval time.Duration
	// PodReadyEstimate is Preview's guess of how long one pod takes to be
	// replaced and Ready; default 30s.
	PodReadyEstimate time.Duration
	// Issuer, when set, issues the leaves of PublishLeaves honouring every
	// field of the entry (see SpecIssuer); the IssueFunc PublishLeaves gets
	// is then ignored. When nil, PublishLeaves calls its IssueFunc with a
	// rotation.Consumer named after the entry (commonName, else the first
	// DNS name, else secretName), which yields CN = DNS SAN = that name only.
	Issuer CertificateIssuer
	// Log receives progress (evictions, 429 retries) at V(1); zero = discard.
	// It never receives key material.
	Log logr.Logger
	// OwnNamespaceOnly makes New refuse (ErrInvalidSpec) a spec that names
	// any namespace other than the object's (validation.Scope): the rule of
	// a namespaced CertificateAuthority, enforced again where the writes,
	// restarts and evictions happen. The controller sets it.
	OwnNamespaceOnly bool
	// Reader reads what the backend does not cache: the EndpointSlices of
	// spec.consumers[].probe.service, listed at each verification. nil =
	// the client. The controller passes its manager's API reader, so no
	// cluster-wide EndpointSlice informer is started.
	Reader client.Reader
	// Dial opens the TCP connections of probes (probe.MTLS.Dial); nil = a
	// net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Backend is the Kubernetes rotation.Backend of one CertificateAuthority.
// It holds a copy of the object as given to New; build a new Backend when the
// spec changes.
type Backend struct {
	c      client.Client
	reader client.Reader
	ca     *v1alpha1.CertificateAuthority
	opts   Options
	clk    clock.Clock
	// owner is the v1alpha1.AnnotationOwner value of ca.
	owner string

	targets   []target
	certs     []certTarget
	consumers []consumerSpec // wave order
	prop      time.Duration
	grace     time.Duration
}

var _ rotation.Backend = (*Backend)(nil)

// New returns the Backend for ca. It checks the spec statically (no API
// call) with internal/kube/validation.Spec, the one validation path the
// controller uses too; bad input returns an error wrapping ErrInvalidSpec
// that names every bad field. What needs the API (namespaces and workloads
// exist, the client may write, handover owns the object) is checked by
// the writes (every write is dry-run first) and by Consumers. The backend
// does not restrict namespaces: a namespaced CertificateAuthority's scope
// (validation.Scope) is enforced with Options.OwnNamespaceOnly.
func New(c client.Client, ca *v1alpha1.CertificateAuthority, opts Options) (*Backend, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: client is nil", ErrInvalidSpec)
	}
	if ca == nil {
		return nil, fmt.Errorf("%w: certificate authority is nil", ErrInvalidSpec)
	}
	if ca.Namespace == "" {
		return nil, fmt.Errorf("%w: metadata.namespace is empty", ErrInvalidSpec)
	}
	if opts.ProbeTimeout < 0 || opts.EvictionRetry < 0 || opts.PollInterval < 0 || opts.PodReadyEstimate < 0 {
		return nil, fmt.Errorf("%w: negative duration in Options", ErrInvalidSpec)
	}
	b := &Backend{c: c, ca: ca.DeepCopy(), opts: opts, clk: opts.Clock, owner: v1alpha1.OwnerOf(ca.Namespace, ca.Name)}
	if b.clk == nil {
		b.clk = clock.RealClock{}
	}
	if b.reader = opts.Reader; b.reader == nil {
		b.reader = c
	}
	if b.opts.ProbeTimeout == 0 {
		b.opts.ProbeTimeout = DefaultProbeTimeout
	}
	if b.opts.EvictionRetry == 0 {
		b.opts.EvictionRetry = DefaultEvictionRetry
	}
	if b.opts.PollInterval == 0 {
		b.opts.PollInterval = DefaultPollInterval
	}
	if b.opts.PodReadyEstimate == 0 {
		b.opts.PodReadyEstimate = DefaultPodReadyEstimate
	}
	if err := b.parseSpec(); err != nil {
		return nil, err
	}
	return b, nil
}

// Consumers lists spec.consumers in wave order (stable: spec order within a
// wave), with Replicas read from the workloads' status. A workload that does
// not exist returns an error wrapping ErrNotFound naming the field.
func (b *Backend) Consumers(ctx context.Context) ([]rotation.Consumer, error) {
	out := make([]rotation.Consumer, 0, len(b.consumers))
	for i := range b.consumers {
		cs := &b.consumers[i]
		ws, err := b.workloads(ctx, cs)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, w := range ws {
			n += int(w.statusReplicas())
		}
		out = append(out, cs.public(n))
	}
	return out, nil
}

func (b *Backend) lookup(c rotation.Consumer) (*consumerSpec, error) {
	for i := range b.consumers {
		if b.consumers[i].spec.Name == c.Name {
			return &b.consumers[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q is not in spec.consumers", ErrUnknownConsumer, c.Name)
}

// sortByWave orders consumers by wave, keeping spec order within a wave.
func sortByWave(cs []consumerSpec) {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].spec.Wave < cs[j].spec.Wave })
}
