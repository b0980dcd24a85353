package fleet

import (
	"fmt"
	"math/rand/v2"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/probe"
)

// Config describes a fleet. Zero values take the defaults noted.
type Config struct {
	// Dir holds one directory per pod (Dir/<consumer>/<pod>); required.
	Dir string
	// Servers and Clients count the consumers; Servers >= 1, Clients >= 0.
	Servers, Clients int
	// LoadOnceServers and LoadOnceClients are how many of them read their
	// certificates at start only (the first ones by index).
	LoadOnceServers, LoadOnceClients int
	// Replicas of each load-once server (>= 2 so a rolling restart keeps one
	// serving); 0 = 2. Hot-reload servers run one replica.
	Replicas int
	// Propagation is the upper bound D of the per-pod delay, drawn uniformly
	// from [0, D], between a Publish and the pod's mount changing (the
	// kubelet's sync period; ~60-90s in a cluster).
	Propagation time.Duration
	// Startup is how long a restarted replica takes to become ready.
	Startup time.Duration
	// Timeout bounds one probe attempt; 0 = probe.DefaultTimeout.
	Timeout time.Duration
	// RatePerClient caps each client's attempts per second across all
	// servers; 0 = back-to-back.
	RatePerClient float64
	// Clock schedules propagation and stamps samples; nil = real clock.
	Clock clock.WithDelayedExecution
	// Rand draws propagation delays; nil = seeded from Seed.
	Rand *rand.Rand
	Seed uint64
	// Sink receives every probe sample; nil = only counted.
	Sink probe.Sink
}

func (cfg *Config) validate() error {
	switch {
	case cfg.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	case cfg.Servers < 1:
		return fmt.Errorf("%w: Servers is %d, want >= 1", ErrInvalidConfig, cfg.Servers)
	case cfg.Clients < 0:
		return fmt.Errorf("%w: Clients is %d, want >= 0", ErrInvalidConfig, cfg.Clients)
	case cfg.LoadOnceServers < 0 || cfg.LoadOnceServers > cfg.Servers:
		return fmt.Errorf("%w: LoadOnceServers is %d, want 0..%d", ErrInvalidConfig, cfg.LoadOnceServers, cfg.Servers)
	case cfg.LoadOnceClients < 0 || cfg.LoadOnceClients > cfg.Clients:
		return fmt.Errorf("%w: LoadOnceClients is %d, want 0..%d", ErrInvalidConfig, cfg.LoadOnceClients, cfg.Clients)
	case cfg.Replicas == 1 || cfg.Replicas < 0:
		return fmt.Errorf("%w: Replicas is %d, want >= 2 (or 0 for 2)", ErrInvalidConfig, cfg.Replicas)
	case cfg.Propagation < 0:
		return fmt.Errorf("%w: Propagation is negative", ErrInvalidConfig)
	case cfg.Startup < 0:
		return fmt.Errorf("%w: Startup is negative", ErrInvalidConfig)
	case cfg.Timeout < 0:
		return fmt.Errorf("%w: Timeout is negative", ErrInvalidConfig)
	case cfg.RatePerClient < 0:
		return fmt.Errorf("%w: RatePerClient is negative", ErrInvalidConfig)
	}
	return nil
}
