package etcd

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Defaults for Config's zero values.
const (
	DefaultStepTimeout    = 2 * time.Minute
	DefaultPromoteTimeout = time.Minute
	DefaultPollInterval   = 200 * time.Millisecond
	DefaultDrainDelay     = time.Second
	DefaultDrainTimeout   = time.Minute
	// catchUpFloor is the slowest catch-up rate the default timeout allows
	// for (bytes per second), on top of DefaultStepTimeout.
	catchUpFloor = 1 << 20
)

// Config is the input of NewPlan.
type Config struct {
	// Name is the plan's name ("" = "etcd-migration"); it keys the checkpoint.
	Name    string
	Cluster *Cluster // required
	// Sources are the voting members at the start. Discover them once with
	// Cluster.Members and persist them beside the checkpoint: a rerun after
	// some sources were removed must build the same plan.
	Sources     []Member
	Targets     []Target
	Provisioner Provisioner
	// TargetTLS is passed to the provisioner for every target (nil = plain).
	TargetTLS *MemberTLS
	// MemberFlags are etcd flags ("--KEY=VALUE") every target runs with on
	// top of the generated ones: the source's settings (InheritFlags).
	MemberFlags []string

	// CatchUpTimeout bounds each learner's catch-up; 0 = DefaultStepTimeout
	// plus DBSize at 1 MiB/s.
	CatchUpTimeout time.Duration
	DBSize         int64         // bytes, from preflight; sizes the catch-up timeout
	PromoteTimeout time.Duration // 0 = DefaultPromoteTimeout
	StepTimeout    time.Duration // 0 = DefaultStepTimeout
	PollInterval   time.Duration // 0 = DefaultPollInterval
	// Preflight limits (see Facts).
	MaxLearners int
	MaxRTT      time.Duration
	MaxDBSize   int64
	// KeepFaultTolerance makes the preflight refuse targets that tolerate
	// fewer failed members than the sources (ReducedFaultTolerance).
	KeepFaultTolerance bool

	// OnEndpoints is told every change of the voters' client URLs that
	// clients must follow, and gates it (EndpointHook: where it is called
	// and what an error does): after a promotion (the new voter included),
	// after the leader moved, before each removal (the leaving member left
	// out, Leaving set), and transient steering (verify, an unheld leader
	// transfer). Whatever talks to the cluster — the probe, an API
	// server's --etcd-servers, a DNS record — is wired here (Hooks chains
	// several; Lasting leaves out the transient changes), so no request is
	// sent to a member that is about to leave.
	OnEndpoints EndpointHook
	// DrainDelay is the wait between OnEndpoints and MemberRemove, for
	// clients to move their connections (0 = DefaultDrainDelay).
	DrainDelay time.Duration
	// DrainMaxRate (client requests/s) enables the drain gate before each
	// removal: after OnEndpoints and DrainDelay, the leaving member's
	// own /metrics must show at most this rate of KV and Lease requests and
	// (0 = no gate); open watch streams are reported, not waited for. DrainTimeout bounds the wait (0 =
	// DefaultDrainTimeout); DrainInterval is the sampling period (0 = 1 s).
	DrainMaxRate  float64
	DrainTimeout  time.Duration
	DrainInterval time.Duration
	// StopSource, when set, stops a leaving source member gracefully (etcd
	// on SIGTERM lets in-flight requests finish) after DrainDelay and
	// before the drain gate and MemberRemove, when the other voters keep
	// quorum without it (CanStopBeforeRemove): membership-following clients
	// then fail over before the member is removed, instead of seeing its
	// proposals fail ("raft: stopped"). An error is retried.
	StopSource func(ctx context.Context, m Member) error
	// RemovalPace is the wait after each removal before the next step, so
	// clients that sync the membership periodically follow each change.
	RemovalPace time.Duration
	// MetricsURL returns where member m serves the metrics of its own
	// client traffic, read by the drain gate and the leadership transfer
	// ("" = its client URL, where etcd serves them). nil = the
	// provisioner's when it is a MetricsURLer (embedded targets), else the
	// client URL. Embedded sources need it set (Embedded.MetricsURL).
	MetricsURL func(m Member) string
	// Hold, when set, pauses the clients around every leadership transfer
	// the migration makes (TransferLeadership): raft drops the proposals
	// that arrive during a transfer and clientv3 does not retry writes, so
	// without a hold a writing client may see errors. nil = no hold.
	Hold ClientHold

	Clock clock.Clock // nil = real clock
	// Stats, when set, receives catch-up measurements.
	Stats *Stats
}

func (c *Config) defaults() error {
	switch {
	case c.Cluster == nil:
		return fmt.Errorf("%w: Config.Cluster is nil", ErrInvalidConfig)
	case c.Provisioner == nil:
		return fmt.Errorf("%w: Config.Provisioner is nil", ErrInvalidConfig)
	case len(c.Sources) == 0:
		return fmt.Errorf("%w: Config.Sources is empty", ErrInvalidConfig)
	}
	if c.Name == "" {
		c.Name = "etcd-migration"
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = DefaultStepTimeout
	}
	if c.CatchUpTimeout == 0 {
		c.CatchUpTimeout = DefaultStepTimeout + time.Duration(c.DBSize/catchUpFloor)*time.Second
	}
	if c.PromoteTimeout == 0 {
		c.PromoteTimeout = DefaultPromoteTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.DrainDelay == 0 {
		c.DrainDelay = DefaultDrainDelay
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.DrainInterval == 0 {
		c.DrainInterval = time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.MetricsURL == nil {
		if mu, ok := c.Provisioner.(MetricsURLer); ok {
			c.MetricsURL = func(m Member) string { u, _ := mu.MetricsURL(m.Name); return u }
		}
	}
	if c.Stats == nil {
		c.Stats = &Stats{}
	}
	return nil
}

// CatchUp is one learner's measured catch-up.
type CatchUp struct {
	Target string
	// Bytes is the learner's database size when it caught up.
	Bytes int64
	// Duration runs from the provisioning of the member to the first poll
	// that saw its applied index within CatchUpSlack of the leader's: the
	// data transfer, including the member's start; its resolution is the
	// plan's poll interval.
	Duration time.Duration
	// Ready runs from the provisioning to the gate passing: caught up and
	// serving clients (etcd serves a joining member's clients only after it
	// applied the entry publishing its own name, which may be retried after
	// a request timeout).
	Ready time.Duration
}

// Stats collects measurements made by the steps; safe for concurrent use.
type Stats struct {
	mu        sync.Mutex
	catchUps  []CatchUp
	transfers []Transfer
	started   map[string]time.Time
}

func (s *Stats) addTransfer(t Transfer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transfers = append(s.transfers, t)
}

// Transfers returns the leadership transfers made, in order.
func (s *Stats) Transfers() []Transfer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Transfer(nil), s.transfers...)
}

func (s *Stats) provisionStarted(name string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started == nil {
		s.started = map[string]time.Time{}
	}
	if _, ok := s.started[name]; !ok {
		s.started[name] = t
	}
}

func (s *Stats) provisionStart(name string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.started[name]
	return t, ok
}

func (s *Stats) add(c CatchUp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catchUps = append(s.catchUps, c)
}

// CatchUps returns the measured catch-ups in order.
func (s *Stats) CatchUps() []CatchUp {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CatchUp(nil), s.catchUps...)
}
