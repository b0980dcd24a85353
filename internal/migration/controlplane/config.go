package controlplane

import (
	"fmt"
	"net/netip"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/endpointdns"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// Config is the input of NewPlan.
type Config struct {
	// Name keys the checkpoint ("" = "controlplane-migration").
	Name string
	// Etcd is the etcd migration (sources, targets, provisioner); its steps
	// are reused as they are.
	Etcd etcdmig.Config
	// Endpoint is the stable name and the identity used to check apiservers.
	Endpoint Endpoint
	// DNS holds the endpoint name's record; it points at Source.Addr at the
	// start.
	DNS endpointdns.Record
	// Source is the running apiserver (its spec is needed to start it again
	// in a rollback); Target the one to start. Target.EtcdServers empty =
	// the etcd targets' client URLs.
	Source, Target APIServerSpec
	// SourceProvisioner stops (and in a rollback restarts) the source;
	// TargetProvisioner starts the target. One may serve both.
	SourceProvisioner, TargetProvisioner Provisioner
	// MaxTTL bounds the record's TTL (0 = DefaultMaxTTL); SiteRTT is the
	// measured RTT between the sites, refused above MaxSiteRTT (0 =
	// DefaultMaxSiteRTT).
	MaxTTL, SiteRTT, MaxSiteRTT time.Duration
	// DrainWait overrides DrainWait(TTL) (0 = 2·TTL+1); a negative value
	// skips the drain (the proof of concept's order: switch DNS and stop
	// the source at once — a baseline, never a recommendation).
	DrainWait time.Duration
	// OnEndpoints, when set, is told every endpoint change and gates it
	// (EndpointHook): the DNS switch, each etcd promotion and the leader
	// move (an error fails the step; before the point of no return the
	// plan rolls back), and before each source removal (through etcd's
	// PublishEndpoints: the member stays while it errs).
	OnEndpoints EndpointHook
	// WriteHold, when set, holds every write in admission while the etcd
	// leader moves (it becomes the etcd Config.Hold; see writehold.go);
	// the apiservers must reach it. Nil moves the leader unheld: a write in flight during the
	// transfer can then fail with a 500.
	WriteHold *WriteHold
	// TargetReadyTimeout bounds the start-target gate (0 = 2 min).
	TargetReadyTimeout time.Duration
	Clock              clock.Clock // nil = real clock
	// Stats receives the drain's measured length.
	Stats *Stats
}

// Stats are measurements the steps make.
type Stats struct {
	DNSTTL time.Duration
	Drain  time.Duration // DNS switch → source apiserver exited
	// WriteHold is how long writes were held around the leader transfers
	// of this run (hold started → released, summed); HeldWrites how many
	// requests the hold delayed.
	WriteHold  time.Duration
	HeldWrites int
	// ResourcesListed is how many resources the target LISTed at its gate.
	ResourcesListed int
}

func (c *Config) defaults() error {
	switch {
	case c.DNS == nil:
		return fmt.Errorf("%w: Config.DNS is nil", ErrInvalidConfig)
	case c.SourceProvisioner == nil || c.TargetProvisioner == nil:
		return fmt.Errorf("%w: Config.SourceProvisioner and TargetProvisioner are required", ErrInvalidConfig)
	}
	if err := c.Endpoint.Validate(); err != nil {
		return err
	}
	if c.Target.EtcdServers == nil {
		for _, t := range c.Etcd.Targets {
			c.Target.EtcdServers = append(c.Target.EtcdServers, t.ClientURL)
		}
	}
	for _, s := range []APIServerSpec{c.Source, c.Target} {
		if err := s.Validate(); err != nil {
			return err
		}
		if s.Port != c.Endpoint.Port {
			return fmt.Errorf("%w: apiserver %q: port %d differs from endpoint port %d (a DNS record carries no port)", ErrInvalidConfig, s.Name, s.Port, c.Endpoint.Port)
		}
	}
	if c.Source.Name == c.Target.Name || c.Source.Addr == c.Target.Addr {
		return fmt.Errorf("%w: source and target apiservers need distinct names and addresses", ErrInvalidConfig)
	}
	if c.Name == "" {
		c.Name = "controlplane-migration"
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.MaxSiteRTT == 0 {
		c.MaxSiteRTT = DefaultMaxSiteRTT
	}
	if c.TargetReadyTimeout == 0 {
		c.TargetReadyTimeout = 2 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Stats == nil {
		c.Stats = &Stats{}
	}
	c.Etcd.Name = c.Name
	c.Etcd.Clock = c.Clock
	return nil
}

func (c *Config) addrs(a netip.Addr) []netip.Addr { return []netip.Addr{a} }
