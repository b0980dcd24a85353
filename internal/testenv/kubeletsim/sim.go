// Package kubeletsim is a kubelet emulator for the kwok pods of the
// kubelet-less test cluster (internal/testenv/cluster). kwok marks pods
// Running and Ready but runs no containers; the simulator plays the parts of
// the kubelet and of the containers that matter to a trust rotation:
//
//   - Volumes: for every scheduled pod that mounts Secret, ConfigMap or
//     projected volumes it keeps a local directory per volume written like
//     the kubelet's atomic writer (timestamped generation directory and a
//     ..data symlink swapped by rename(2); fleet.Volume). A new pod's volumes
//     are written at once from the current objects (the kubelet mounts before
//     the container starts); every later change of an object reaches each
//     volume after its own random delay in [0, MaxDelay] (the kubelet's sync
//     period plus its cache TTL), always writing the object's latest content.
//   - Containers: every Running pod gets an mTLS server on 127.0.0.1 that
//     presents tls.crt/tls.key of its serving volume and requires a client
//     certificate verified against ca.crt. The pod annotation
//     AnnotationReload picks hot reload (re-read per handshake, default) or
//     load-once (read at start only: a change reaches it only through a new
//     pod). A pod being deleted leaves its Services first, then its server
//     drains and stops after TerminationGrace (a preStop sleep).
//   - Services: AddService gives a label selector a loopback TCP address
//     that round-robins connections over the servers of Ready pods (k8s
//     Ready condition, not terminating, server up), like kube-proxy.
//
// Nothing here talks to a kubelet API: the cluster sees only what kwok
// writes. The simulator only reads the API (pods, secrets, configmaps).
package kubeletsim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/fleet"
	"github.com/handover-dev/handover/internal/tlsloop"
)

// Reload is how a simulated server picks up a change of its volume.
type Reload string

const (
	// ReloadHot re-reads the volume on every handshake (Envoy SDS style).
	ReloadHot Reload = "hot"
	// ReloadLoadOnce reads the volume once when the pod starts.
	ReloadLoadOnce Reload = "load-once"
)

// Pod annotations the simulator reads (set them on the pod template).
const (
	// AnnotationReload is "hot" (default) or "load-once".
	AnnotationReload = "sim.handover.dev/reload"
	// AnnotationServeVolume names the volume whose ca.crt, tls.crt and
	// tls.key the pod's server uses; default the pod's first Secret,
	// ConfigMap or projected volume.
	AnnotationServeVolume = "sim.handover.dev/serve-volume"
)

// DefaultTerminationGrace is Options.TerminationGrace when zero.
const DefaultTerminationGrace = 100 * time.Millisecond

// drainWait bounds how long a stopping server waits to accept the
// connections a balancer already handed it.
const drainWait = 2 * time.Second

// Options configure Start.
type Options struct {
	// Config reaches the cluster (read access to pods, secrets, configmaps).
	Config *rest.Config
	// Namespace restricts the simulator to one namespace; "" = all.
	Namespace string
	// Dir is where pod and mount directories go (created if missing):
	// Dir/<namespace>/<pod>-<uid>/<volume>/ and Dir/<namespace>/mount-<secret>-<n>/.
	Dir string
	// MaxDelay is the upper bound of the propagation delay of an object
	// change to each volume (uniform in [0, MaxDelay]); 0 = immediate.
	MaxDelay time.Duration
	// Seed seeds the delay generator (PCG), so a run's delays repeat.
	Seed uint64
	// Clock schedules delayed syncs and terminations and stamps generation
	// directories; nil = the real clock. Callbacks run in goroutines of
	// their own, so a k8s.io/utils/clock/testing.FakeClock (whose Step runs
	// AfterFunc callbacks under its lock) works: Step(MaxDelay) releases
	// every pending sync.
	Clock clock.WithDelayedExecution
	// TerminationGrace is the wait between a pod leaving its Services and
	// its server stopping; 0 = DefaultTerminationGrace.
	TerminationGrace time.Duration
	// Logf, if set, receives one line per pod start/stop and volume sync
	// (names and generation directories only, never file content).
	Logf func(format string, args ...any)
}

// Sim is a running simulator. Its methods are safe for concurrent use.
type Sim struct {
	opts    Options
	clk     clock.WithDelayedExecution
	secrets listersv1.SecretLister
	cms     listersv1.ConfigMapLister
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	closed   bool
	rng      *rand.Rand
	pods     map[types.UID]*podState
	mounts   map[*mount]struct{}
	services map[string]*service // key namespace/name
	nMounts  int
	stats    Stats
	stopping sync.WaitGroup
}

// Stats are counters since Start.
type Stats struct {
	// ServersStarted and ServersStopped count pod servers.
	ServersStarted, ServersStopped int
	// Syncs counts volume writes after a change (not first mounts).
	Syncs int
}

type podState struct {
	namespace, name string
	uid             types.UID
	dir             string
	reload          Reload
	labels          map[string]string
	running, ready  bool
	mounts          []*mount
	serve           *mount // nil: the pod mounts nothing the simulator serves
	server          *tlsloop.Server
	gen             string // generation the server loaded at start
}

type mount struct {
	spec   volumeSpec
	vol    *fleet.Volume
	ld     *tlsloop.Loader
	digest [32]byte
	synced bool
	owner  *podState // nil for a standalone Mount
	gone   bool
}

type service struct {
	namespace, name string
	selector        labels.Selector
	lb              *tlsloop.Balancer
}

// Start lists and watches pods, secrets and configmaps, waits for the
// caches, mounts and starts every scheduled pod already there and returns.
// It stops when ctx ends or Close is called. It returns an error wrapping
// ErrInvalidOptions (naming the field) for a nil Config, an empty Dir or a
// negative duration, and an error when the caches do not sync.
func Start(ctx context.Context, opts Options) (*Sim, error) {
	switch {
	case opts.Config == nil:
		return nil, fmt.Errorf("%w: Config is nil", ErrInvalidOptions)
	case opts.Dir == "":
		return nil, fmt.Errorf("%w: Dir is empty", ErrInvalidOptions)
	case opts.MaxDelay < 0:
		return nil, fmt.Errorf("%w: MaxDelay is negative", ErrInvalidOptions)
	case opts.TerminationGrace < 0:
		return nil, fmt.Errorf("%w: TerminationGrace is negative", ErrInvalidOptions)
	}
	if opts.TerminationGrace == 0 {
		opts.TerminationGrace = DefaultTerminationGrace
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", opts.Dir, err)
	}
	cs, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("kubeletsim client: %w", err)
	}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(opts.Namespace))
	podInf := f.Core().V1().Pods()
	secInf := f.Core().V1().Secrets()
	cmInf := f.Core().V1().ConfigMaps()
	ictx, cancel := context.WithCancel(ctx)
	s := &Sim{
		opts:     opts,
		clk:      clk,
		secrets:  secInf.Lister(),
		cms:      cmInf.Lister(),
		cancel:   cancel,
		done:     make(chan struct{}),
		rng:      newRand(opts.Seed),
		pods:     map[types.UID]*podState{},
		mounts:   map[*mount]struct{}{},
		services: map[string]*service{},
	}
	// Object handlers first, so the listers are registered before Start.
	objHandler := func(kind string) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { s.onObject(kind, o) },
			UpdateFunc: func(_, o any) { s.onObject(kind, o) },
		}
	}
	if _, err := secInf.Informer().AddEventHandler(objHandler(KindSecret)); err != nil {
		cancel()
		return nil, fmt.Errorf("kubeletsim secret handler: %w", err)
	}
	if _, err := cmInf.Informer().AddEventHandler(objHandler(KindConfigMap)); err != nil {
		cancel()
		return nil, fmt.Errorf("kubeletsim configmap handler: %w", err)
	}
	f.Start(ictx.Done())
	if !cache.WaitForCacheSync(ictx.Done(), secInf.Informer().HasSynced, cmInf.Informer().HasSynced) {
		cancel()
		f.Shutdown()
		return nil, fmt.Errorf("kubeletsim: secret/configmap caches did not sync: %w", context.Cause(ictx))
	}
	// Pods after the objects, so a pod's first mount finds them in cache.
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.onPod(o) },
		UpdateFunc: func(_, o any) { s.onPod(o) },
		DeleteFunc: func(o any) { s.onPodDelete(o) },
	}); err != nil {
		cancel()
		f.Shutdown()
		return nil, fmt.Errorf("kubeletsim pod handler: %w", err)
	}
	f.Start(ictx.Done())
	if !cache.WaitForCacheSync(ictx.Done(), podInf.Informer().HasSynced) {
		cancel()
		f.Shutdown()
		return nil, fmt.Errorf("kubeletsim: pod cache did not sync: %w", context.Cause(ictx))
	}
	go func() {
		<-ictx.Done()
		f.Shutdown()
		s.shutdown()
		close(s.done)
	}()
	return s, nil
}

// Close stops watching, stops every server and balancer, and returns when
// they are stopped. Directories stay (they live under Options.Dir).
func (s *Sim) Close() {
	s.cancel()
	<-s.done
}

func (s *Sim) shutdown() {
	s.mu.Lock()
	s.closed = true
	var servers []*tlsloop.Server
	for _, p := range s.pods {
		if p.server != nil {
			servers = append(servers, p.server)
		}
	}
	svcs := make([]*service, 0, len(s.services))
	for _, svc := range s.services {
		svcs = append(svcs, svc)
	}
	s.mu.Unlock()
	for _, svc := range svcs {
		svc.lb.Set(nil)
		svc.lb.Close()
	}
	for _, srv := range servers {
		srv.Stop(0, 0)
	}
	s.stopping.Wait()
}

func (s *Sim) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// newRand is the delay generator: PCG seeded from seed, so a run's delays
// repeat.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: reproducible test delays, not secrets
}

// delay draws a propagation delay uniformly in [0, max]; s.mu held.
func (s *Sim) delay() time.Duration { return drawDelay(s.rng, s.opts.MaxDelay) }

// drawDelay returns a uniform duration in [0, max]; 0 when max <= 0.
func drawDelay(rng *rand.Rand, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(max) + 1))
}
