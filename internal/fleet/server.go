package fleet

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/tlsloop"
)

// drainWait bounds how long a stopping replica waits for the connections the
// balancer already handed it to be accepted.
const drainWait = 2 * time.Second

// slot is one replica position of a server: its pod (mount) and the
// instance currently running on it.
type slot struct {
	pod  *pod
	inst *tlsloop.Server
}

// server is a replica set behind a balancer.
type server struct {
	c  *consumer
	lb *tlsloop.Balancer

	mu    sync.Mutex
	slots []*slot
}

// instanceConfig returns the TLS config a new replica on p runs with:
// hot-reload replicas resolve the mount per handshake; load-once replicas
// parse it now and never again.
func instanceConfig(reload rotation.Reload, p *pod) (*tls.Config, error) {
	if reload == rotation.ReloadLoadOnce {
		return p.ld.StaticServerConfig()
	}
	return p.ld.ReloadingServerConfig(), nil
}

func (s *server) start() error {
	lb, err := tlsloop.NewBalancer()
	if err != nil {
		return fmt.Errorf("server %s: balancer: %w", s.c.name, err)
	}
	s.lb = lb
	for _, p := range s.c.pods {
		cfg, err := instanceConfig(s.c.reload, p)
		if err != nil {
			return fmt.Errorf("server %s pod %s: %w", s.c.name, p.name, err)
		}
		in, err := tlsloop.NewServer(cfg)
		if err != nil {
			return fmt.Errorf("server %s pod %s: listen: %w", s.c.name, p.name, err)
		}
		s.slots = append(s.slots, &slot{pod: p, inst: in})
	}
	s.lb.Set(s.addrs())
	return nil
}

func (s *server) addrs() []string {
	out := make([]string, 0, len(s.slots))
	for _, sl := range s.slots {
		out = append(out, sl.inst.Addr())
	}
	return out
}

// instances returns the running replicas, keyed by pod name.
func (s *server) instances() map[string]*tlsloop.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*tlsloop.Server, len(s.slots))
	for _, sl := range s.slots {
		out[sl.pod.name] = sl.inst
	}
	return out
}

// rollingRestart replaces one replica at a time: the replacement's volume
// is mounted (mount), the replacement starts reading it, becomes ready
// after startup, joins the balancer, the old one leaves it, drains and
// stops (maxSurge 1, maxUnavailable 0).
func (s *server) rollingRestart(ctx context.Context, mount func(*pod) error, startup func(context.Context) error) error {
	for i := range s.c.pods {
		if err := s.restartSlot(ctx, i, mount, startup); err != nil {
			return err
		}
	}
	return nil
}

func (s *server) restartSlot(ctx context.Context, i int, mount func(*pod) error, startup func(context.Context) error) error {
	s.mu.Lock()
	sl := s.slots[i]
	s.mu.Unlock()
	if err := mount(sl.pod); err != nil {
		return fmt.Errorf("restart %s: mount: %w", sl.pod.name, err)
	}
	cfg, err := instanceConfig(s.c.reload, sl.pod)
	if err != nil {
		return fmt.Errorf("restart %s: %w", sl.pod.name, err)
	}
	in, err := tlsloop.NewServer(cfg)
	if err != nil {
		return fmt.Errorf("restart %s: listen: %w", sl.pod.name, err)
	}
	if err := startup(ctx); err != nil {
		in.Stop(0, 0)
		return fmt.Errorf("restart %s: %w", sl.pod.name, err)
	}
	s.mu.Lock()
	old := sl.inst
	sl.inst = in
	removed := s.lb.Set(s.addrs())
	s.mu.Unlock()
	// Drain: wait (bounded) until old accepted every connection established
	// to it (by the balancer, and directly by verifications), so closing its
	// listener resets nothing still in its backlog.
	old.Stop(removed[old.Addr()], drainWait)
	return nil
}

func (s *server) stop() {
	s.lb.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.slots {
		sl.inst.Stop(0, 0)
	}
}
