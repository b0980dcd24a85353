package rotation

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/trust"
)

// Strategy names a way to rotate a CA.
type Strategy string

const (
	// StrategyAtomic is the pre-fix certgen of envoyproxy/gateway#4891:
	// replace CA and leaves at once, then restart load-once consumers.
	StrategyAtomic Strategy = "atomic"
	// StrategyBundle is envoyproxy/gateway#8534 + #8535: bundle [new,
	// previous] and new leaves at once, then a rolling restart of load-once
	// consumers.
	StrategyBundle Strategy = "bundle"
	// StrategyStaged is handover's make-before-break rotation: every trust
	// change is verified by live handshakes before the next (see NewStaged).
	StrategyStaged Strategy = "staged"
)

// Strategies lists every strategy in the order --compare runs them.
func Strategies() []Strategy { return []Strategy{StrategyAtomic, StrategyBundle, StrategyStaged} }

// ParseStrategy returns the Strategy named s or ErrUnknownStrategy.
func ParseStrategy(s string) (Strategy, error) {
	for _, st := range Strategies() {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: %q (want atomic, bundle or staged)", ErrUnknownStrategy, s)
}

// Spec is what a rotation needs.
type Spec struct {
	Backend Backend
	// Old is the CA every consumer trusts and every leaf chains to now; New
	// replaces it. Both need their key: New issues the leaves, and each
	// issues a probe leaf for the verification handshakes.
	Old, New *trust.CA
	// Propagation is the upper bound between a Publish and every running
	// consumer's mount showing it (the kubelet's sync period plus cache TTL
	// in a cluster, ~60-90s; the fleet's --propagation).
	Propagation time.Duration
	// Grace is how long the staged plan keeps the previous CA in the bundle
	// after every consumer presents a new leaf.
	Grace time.Duration
	// StepTimeout is the budget of a step for what it does besides waiting:
	// rolling restarts and verification; 0 = 4×Propagation + 2 minutes (a
	// replacement whose mount lagged is restarted again after up to one
	// more Propagation). A staged step that waits for Propagation or Grace
	// gets that wait plus StepTimeout (the wait is a gate counted from the
	// step's persisted apply time, never a sleep); the other steps get
	// StepTimeout.
	StepTimeout time.Duration
	// PollInterval is the wait between gate checks; 0 = the engine's default.
	PollInterval time.Duration
	// Clock times the waits and stamps issued leaves; nil = real clock.
	Clock clock.Clock
	// Retained are CAs older than Old still kept in the trust bundle
	// (certificates only, newest first); see MaxCAs.
	Retained []*x509.Certificate
	// MaxCAs caps the staged plan's bundles (trust.Bundle): the overlap
	// [New, Old, Retained...] holds at most MaxCAs CAs, the bundle before
	// (a revert) and after the grace period at most MaxCAs-1 (at least 1), so
	// the next rotation fits. 0 = trust.DefaultMaxCAs (2: [new, previous],
	// then [new]).
	MaxCAs int
	// InUse lists the leaves in use now (nil = none known). The staged
	// plan never drops a CA that signs one: the grace step's gate waits,
	// naming the leaf and the CA (trust.SignerError), until it is re-issued.
	InUse func(ctx context.Context) ([]*x509.Certificate, error)
	// LeavesIssued, when set, gates the switch-leaves step before its
	// propagation wait: leaves issued by someone else (cert-manager) are
	// re-issued asynchronously after PublishLeaves; it returns "" once every
	// such leaf is signed by the CA that issues now, else what it waits for.
	LeavesIssued func(ctx context.Context) (waiting string, err error)
}

// Rotation is a built plan plus what it measures while it runs.
type Rotation struct {
	Strategy Strategy
	Plan     *plan.Plan
	// TrustChanges is how many times the plan waits for a change to reach
	// every consumer before the next (3 for staged: add CA, switch leaves,
	// drop CA; 0 for the strategies that do not wait).
	TrustChanges int

	spec Spec

	mu          sync.Mutex
	restartTime time.Duration
}

// RestartTime is the wall time spent in Backend.RollingRestart so far.
func (r *Rotation) RestartTime() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restartTime
}

// Floor is the least wall time the plan can take: Propagation ×
// TrustChanges + Grace + the rolling restart time it measured. It is 0 for
// strategies that do not wait for propagation.
func (r *Rotation) Floor() time.Duration {
	if r.TrustChanges == 0 {
		return 0
	}
	return time.Duration(r.TrustChanges)*r.spec.Propagation + r.spec.Grace + r.RestartTime()
}

// Build returns the plan of strategy s for spec. Errors: ErrUnknownStrategy,
// ErrInvalidSpec naming the field (nil Backend, a CA without certificate or
// key, Old == New, negative durations).
func Build(s Strategy, spec Spec) (*Rotation, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if spec.Clock == nil {
		spec.Clock = clock.RealClock{}
	}
	if spec.StepTimeout == 0 {
		spec.StepTimeout = 4*spec.Propagation + 2*time.Minute
	}
	r := &Rotation{Strategy: s, spec: spec}
	var err error
	switch s {
	case StrategyAtomic:
		r.Plan = r.atomicPlan()
	case StrategyBundle:
		r.Plan = r.bundlePlan()
	case StrategyStaged:
		r.TrustChanges = 3
		r.Plan, err = r.stagedPlan()
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownStrategy, s)
	}
	if err != nil {
		return nil, err
	}
	r.Plan.StepTimeout = spec.StepTimeout
	r.Plan.PollInterval = spec.PollInterval
	return r, nil
}

func (s *Spec) validate() error {
	switch {
	case s.Backend == nil:
		return fmt.Errorf("%w: Backend is nil", ErrInvalidSpec)
	case s.Old == nil || s.Old.Cert == nil || s.Old.Key == nil:
		return fmt.Errorf("%w: Old CA has no certificate or key", ErrInvalidSpec)
	case s.New == nil || s.New.Cert == nil || s.New.Key == nil:
		return fmt.Errorf("%w: New CA has no certificate or key", ErrInvalidSpec)
	case s.Old.Cert.Equal(s.New.Cert):
		return fmt.Errorf("%w: New CA is the Old CA", ErrInvalidSpec)
	case s.Propagation < 0:
		return fmt.Errorf("%w: Propagation is negative", ErrInvalidSpec)
	case s.Grace < 0:
		return fmt.Errorf("%w: Grace is negative", ErrInvalidSpec)
	case s.StepTimeout < 0:
		return fmt.Errorf("%w: StepTimeout is negative", ErrInvalidSpec)
	case s.PollInterval < 0:
		return fmt.Errorf("%w: PollInterval is negative", ErrInvalidSpec)
	}
	return nil
}

// bundlePEM applies the trust bundle policy (trust.Bundle) and encodes it.
func (r *Rotation) bundlePEM(active *trust.CA, previous ...*trust.CA) ([]byte, error) {
	in := trust.BundleInput{Active: active.Cert, Now: r.spec.Clock.Now()}
	for _, p := range previous {
		in.Previous = append(in.Previous, p.Cert)
	}
	certs, err := trust.Bundle(in)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	return trust.EncodeCertificates(certs...), nil
}
