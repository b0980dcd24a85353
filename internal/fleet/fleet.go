// Package fleet runs a local mTLS fleet on 127.0.0.1 that behaves like pods
// mounting Kubernetes Secrets: servers (replica sets behind a balancer) and
// clients that dial every server in turn, continuously (one attempt in flight
// per client, a new connection and full handshake each), each pod reading its
// certificates from its own directory updated like the kubelet's Secret
// volume (atomic writer, per-pod propagation delay). Consumers are hot-reload
// (re-read per handshake) or load-once (read at start). The clients are the
// probes: every attempt is a probe.Sample with Target = the server's name.
//
// Fleet implements rotation.Backend, so rotation plans run against it as they
// would against the Kubernetes operator.
package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/tlsloop"
)

// consumer is the fleet's state for one rotation.Consumer.
type consumer struct {
	name   string
	role   rotation.Role
	reload rotation.Reload
	secret secret
	pods   []*pod
	frozen bool // guarded by Fleet.mu: the kubelet never syncs its pods

	srv *server
	cli *client
}

// Fleet is a running fleet. Close it.
type Fleet struct {
	cfg Config
	clk clock.WithDelayedExecution

	mu      sync.Mutex
	rnd     *rand.Rand
	timers  []clock.Timer
	closed  bool
	syncErr error

	consumers []*consumer // servers first, then clients
	byName    map[string]*consumer
	counter   *countingSink

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start builds the fleet: every pod's mount gets bundlePEM as ca.crt and the
// leaf issue returns for its consumer (synchronously, like a pod's first
// mount), then servers listen and clients start probing every server until
// Close. On bad Config it returns ErrInvalidConfig naming the field and
// starts nothing.
func Start(ctx context.Context, cfg Config, bundlePEM []byte, issue rotation.IssueFunc) (*Fleet, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 2
	}
	f := &Fleet{cfg: cfg, clk: cfg.Clock, rnd: cfg.Rand, byName: map[string]*consumer{}}
	if f.clk == nil {
		f.clk = clock.RealClock{}
	}
	if f.rnd == nil {
		f.rnd = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: propagation delays must be reproducible from --seed, not secret
	}
	f.counter = &countingSink{next: cfg.Sink}
	if err := f.build(bundlePEM, issue); err != nil {
		return nil, err
	}
	if err := f.startConsumers(); err != nil {
		f.stopConsumers()
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	f.startTraffic(pctx)
	return f, nil
}

func (f *Fleet) build(bundlePEM []byte, issue rotation.IssueFunc) error {
	add := func(name string, role rotation.Role, reload rotation.Reload, replicas int) error {
		c := &consumer{name: name, role: role, reload: reload}
		certPEM, keyPEM, err := issue(c.public(replicas))
		if err != nil {
			return fmt.Errorf("issue leaf for %s: %w", name, err)
		}
		c.secret.update(map[string][]byte{FileCA: bundlePEM, FileCert: certPEM, FileKey: keyPEM})
		for i := range replicas {
			p, err := f.newPod(c, i)
			if err != nil {
				return err
			}
			if err := p.sync(&c.secret); err != nil {
				return fmt.Errorf("mount %s: %w", p.name, err)
			}
			c.pods = append(c.pods, p)
		}
		f.consumers = append(f.consumers, c)
		f.byName[name] = c
		return nil
	}
	for i := range f.cfg.Servers {
		reload, replicas := rotation.ReloadHot, 1
		if i < f.cfg.LoadOnceServers {
			reload, replicas = rotation.ReloadLoadOnce, f.cfg.Replicas
		}
		if err := add(fmt.Sprintf("server-%d", i), rotation.RoleServer, reload, replicas); err != nil {
			return err
		}
	}
	for i := range f.cfg.Clients {
		reload := rotation.ReloadHot
		if i < f.cfg.LoadOnceClients {
			reload = rotation.ReloadLoadOnce
		}
		if err := add(fmt.Sprintf("client-%d", i), rotation.RoleClient, reload, 1); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fleet) newPod(c *consumer, i int) (*pod, error) {
	name := fmt.Sprintf("%s/pod-%d", c.name, i)
	vol, err := NewVolume(filepath.Join(f.cfg.Dir, c.name, fmt.Sprintf("pod-%d", i)), f.clk)
	if err != nil {
		return nil, err
	}
	return &pod{name: name, vol: vol, ld: &tlsloop.Loader{Source: vol, BundleErr: ErrInvalidPayload}}, nil
}

func (f *Fleet) startConsumers() error {
	for _, c := range f.consumers {
		switch c.role {
		case rotation.RoleServer:
			c.srv = &server{c: c}
			if err := c.srv.start(); err != nil {
				return err
			}
		case rotation.RoleClient:
			c.cli = &client{c: c}
			if err := c.cli.start(); err != nil {
				return err
			}
		}
	}
	return nil
}

// startTraffic starts one probe loop per client: sequential attempts
// cycling over every server (client i starts at server i), so the load is
// one attempt in flight per client.
func (f *Fleet) startTraffic(ctx context.Context) {
	servers := f.servers()
	i := 0
	for _, c := range f.consumers {
		if c.cli == nil {
			continue
		}
		targets := make([]target, 0, len(servers))
		for _, s := range servers {
			targets = append(targets, target{name: s.c.name, probe: c.cli.probeFor(s)})
		}
		offset := i
		i++
		f.wg.Go(func() { probeLoop(ctx, f.clk, targets, offset, f.cfg.RatePerClient, f.cfg.Timeout, f.counter) })
	}
}

func (f *Fleet) servers() []*server {
	var out []*server
	for _, c := range f.consumers {
		if c.srv != nil {
			out = append(out, c.srv)
		}
	}
	return out
}

// Counts returns the probe attempts and failed attempts so far.
func (f *Fleet) Counts() (requests, failures int64) {
	return f.counter.requests.Load(), f.counter.failures.Load()
}

// Freeze makes the kubelet model stop updating every pod of the named
// consumer (a node whose kubelet is wedged, a pod that never sees the new
// Secret). It returns ErrUnknownConsumer for a name the fleet does not run.
func (f *Fleet) Freeze(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.byName[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownConsumer, name)
	}
	c.frozen = true
	return nil
}

// Unfreeze undoes Freeze: the kubelet model syncs the consumer's pods
// again, each after a delay drawn from [0, Propagation]. It returns
// ErrUnknownConsumer for a name the fleet does not run.
func (f *Fleet) Unfreeze(name string) error {
	f.mu.Lock()
	c, ok := f.byName[name]
	if ok {
		c.frozen = false
	}
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownConsumer, name)
	}
	return f.propagate(c)
}

// Close stops probing, pending propagation and every server, and returns
// the first error a propagation write hit, if any.
func (f *Fleet) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	for _, t := range f.timers {
		t.Stop()
	}
	f.timers = nil
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
	f.stopConsumers()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncErr
}

func (f *Fleet) stopConsumers() {
	for _, c := range f.consumers {
		if c.srv != nil && c.srv.lb != nil {
			c.srv.stop()
		}
	}
}

// propagate schedules, for every pod of c, a kubelet sync after a delay
// drawn from [0, Propagation].
func (f *Fleet) propagate(c *consumer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	for _, p := range c.pods {
		d := time.Duration(0)
		if f.cfg.Propagation > 0 {
			d = time.Duration(f.rnd.Int64N(int64(f.cfg.Propagation) + 1))
		}
		f.timers = append(f.timers, f.clk.AfterFunc(d, func() { f.kubeletSync(c, p) }))
	}
	return nil
}

// mountCurrent writes the current content of c's secret to p's volume, as
// the kubelet does for a new pod before its containers start; a no-op while
// c is frozen or the fleet closed.
func (f *Fleet) mountCurrent(c *consumer, p *pod) error {
	f.mu.Lock()
	skip := f.closed || c.frozen
	f.mu.Unlock()
	if skip {
		return nil
	}
	return p.sync(&c.secret)
}

func (f *Fleet) kubeletSync(c *consumer, p *pod) {
	if err := f.mountCurrent(c, p); err != nil {
		f.mu.Lock()
		if f.syncErr == nil {
			f.syncErr = fmt.Errorf("kubelet sync %s: %w", p.name, err)
		}
		f.mu.Unlock()
	}
}

func (c *consumer) public(replicas int) rotation.Consumer {
	rc := rotation.Consumer{Name: c.name, Role: c.role, Reload: c.reload, Replicas: replicas}
	if c.srv != nil && c.srv.lb != nil {
		rc.Addr = c.srv.lb.Addr()
	}
	return rc
}
