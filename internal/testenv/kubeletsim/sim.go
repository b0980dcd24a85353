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
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/fleet"
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
	server          *server
	gen             string // generation the server loaded at start
}

type mount struct {
	spec   volumeSpec
	vol    *fleet.Volume
	ld     *loader
	digest [32]byte
	synced bool
	owner  *podState // nil for a standalone Mount
	gone   bool
}

type service struct {
	namespace, name string
	selector        labels.Selector
	lb              *balancer
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
	var servers []*server
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
		svc.lb.set(nil)
		svc.lb.close()
	}
	for _, srv := range servers {
		srv.stop(0, 0)
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

// lookup reads an object's content from the informer caches (nil when it
// does not exist).
func (s *Sim) lookup(kind, namespace, name string) objectData {
	switch kind {
	case KindSecret:
		o, err := s.secrets.Secrets(namespace).Get(name)
		if err != nil {
			return nil
		}
		d := objectData{}
		for k, v := range o.Data {
			d[k] = v
		}
		return d
	case KindConfigMap:
		o, err := s.cms.ConfigMaps(namespace).Get(name)
		if err != nil {
			return nil
		}
		d := objectData{}
		for k, v := range o.Data {
			d[k] = []byte(v)
		}
		for k, v := range o.BinaryData {
			d[k] = v
		}
		return d
	}
	return nil
}

func digest(files map[string][]byte) [32]byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		_, _ = fmt.Fprintf(h, "%d:%s:%d:", len(n), n, len(files[n]))
		_, _ = h.Write(files[n])
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// sync writes m's current content if it changed; s.mu held. It returns
// whether it wrote.
func (s *Sim) sync(m *mount) (bool, error) {
	files, err := payload(m.spec, s.lookup)
	if err != nil {
		return false, err
	}
	d := digest(files)
	if m.synced && d == m.digest {
		return false, nil
	}
	if err := m.vol.Write(files); err != nil {
		return false, err
	}
	m.digest, m.synced = d, true
	return true, nil
}

// onObject schedules a delayed sync of every volume that projects the
// object.
func (s *Sim) onObject(kind string, o any) {
	var namespace, name string
	switch obj := o.(type) {
	case *corev1.Secret:
		namespace, name = obj.Namespace, obj.Name
	case *corev1.ConfigMap:
		namespace, name = obj.Namespace, obj.Name
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for m := range s.mounts {
		if !m.spec.references(kind, namespace, name) {
			continue
		}
		// A goroutine of its own: k8s.io/utils' FakeClock runs AfterFunc
		// callbacks synchronously under its lock, and a sync reads the clock.
		s.clk.AfterFunc(s.delay(), func() { go s.delayedSync(m) })
	}
}

func (s *Sim) delayedSync(m *mount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || m.gone {
		return
	}
	wrote, err := s.sync(m)
	if err != nil {
		s.logf("kubeletsim: sync %s: %v", m.vol.Dir(), err)
		return
	}
	if !wrote {
		return
	}
	s.stats.Syncs++
	if gen, err := m.vol.Generation(); err == nil {
		s.logf("kubeletsim: synced %s to %s", m.where(), gen)
	}
	if p := m.owner; p != nil && p.server == nil {
		s.maybeStart(p)
		s.refreshServices(p.namespace)
	}
}

func (m *mount) where() string {
	if m.owner == nil {
		return "mount " + m.spec.name
	}
	return "pod " + m.owner.namespace + "/" + m.owner.name + " volume " + m.spec.name
}

func podRunning(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning
}

func podReady(p *corev1.Pod) bool {
	if !podRunning(p) {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (s *Sim) onPod(o any) {
	p, ok := o.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		s.removePod(p.UID)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	ps := s.pods[p.UID]
	if ps == nil {
		var err error
		if ps, err = s.newPod(p); err != nil {
			s.logf("kubeletsim: pod %s/%s: %v", p.Namespace, p.Name, err)
			return
		}
		s.pods[p.UID] = ps
	}
	ps.labels = p.Labels
	ps.running, ps.ready = podRunning(p), podReady(p)
	s.maybeStart(ps)
	s.refreshServices(ps.namespace)
}

// newPod creates the pod's volume directories and mounts them with the
// objects' current content (missing objects are retried on their next
// change); s.mu held.
func (s *Sim) newPod(p *corev1.Pod) (*podState, error) {
	ps := &podState{
		namespace: p.Namespace,
		name:      p.Name,
		uid:       p.UID,
		dir:       filepath.Join(s.opts.Dir, p.Namespace, p.Name+"-"+string(p.UID)),
		reload:    ReloadHot,
	}
	if p.Annotations[AnnotationReload] == string(ReloadLoadOnce) {
		ps.reload = ReloadLoadOnce
	}
	serve := p.Annotations[AnnotationServeVolume]
	for _, v := range podVolumes(p) {
		vol, err := fleet.NewVolume(filepath.Join(ps.dir, v.name), s.clk)
		if err != nil {
			return nil, err
		}
		m := &mount{spec: v, vol: vol, ld: &loader{vol: vol}, owner: ps}
		if _, err := s.sync(m); err != nil {
			s.logf("kubeletsim: pod %s/%s: mount %s: %v", p.Namespace, p.Name, v.name, err)
		}
		ps.mounts = append(ps.mounts, m)
		s.mounts[m] = struct{}{}
		if ps.serve == nil && (serve == "" || serve == v.name) {
			ps.serve = m
		}
	}
	return ps, nil
}

// maybeStart starts the pod's server once it is Running and its serving
// volume holds valid material; s.mu held.
func (s *Sim) maybeStart(ps *podState) {
	if ps.server != nil || !ps.running || ps.serve == nil || !ps.serve.synced {
		return
	}
	cfg, err := serverConfig(ps.reload, ps.serve.ld)
	if err != nil {
		s.logf("kubeletsim: pod %s/%s: server not started: %v", ps.namespace, ps.name, err)
		return
	}
	srv, err := startServer(cfg)
	if err != nil {
		s.logf("kubeletsim: pod %s/%s: listen: %v", ps.namespace, ps.name, err)
		return
	}
	ps.server = srv
	ps.gen, _ = ps.serve.vol.Generation()
	s.stats.ServersStarted++
	s.logf("kubeletsim: pod %s/%s started (%s) on %s with %s", ps.namespace, ps.name, ps.reload, srv.addr(), ps.gen)
}

func (s *Sim) onPodDelete(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if p, ok := o.(*corev1.Pod); ok {
		s.removePod(p.UID)
	}
}

// removePod takes the pod out of its Services at once, then stops its
// server after TerminationGrace once it accepted what the balancers handed
// it, and removes its directory.
func (s *Sim) removePod(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.pods[uid]
	if ps == nil || s.closed {
		return
	}
	delete(s.pods, uid)
	for _, m := range ps.mounts {
		m.gone = true
		delete(s.mounts, m)
	}
	handed := s.refreshServices(ps.namespace)
	srv := ps.server
	if srv == nil {
		_ = os.RemoveAll(ps.dir)
		return
	}
	n := handed[srv.addr()]
	s.stopping.Add(1)
	s.clk.AfterFunc(s.opts.TerminationGrace, func() {
		go func() { // see onObject
			defer s.stopping.Done()
			srv.stop(n, drainWait)
			_ = os.RemoveAll(ps.dir)
			s.mu.Lock()
			s.stats.ServersStopped++
			s.mu.Unlock()
			s.logf("kubeletsim: pod %s/%s stopped", ps.namespace, ps.name)
		}()
	})
}

// refreshServices recomputes the endpoints of the namespace's Services and
// returns, per removed endpoint address, the connections handed to it;
// s.mu held.
func (s *Sim) refreshServices(namespace string) map[string]int64 {
	handed := map[string]int64{}
	for _, svc := range s.services {
		if svc.namespace != namespace {
			continue
		}
		for a, n := range svc.lb.set(s.endpoints(svc)) {
			handed[a] += n
		}
	}
	return handed
}

// endpoints are the server addresses of the Ready pods svc selects, in pod
// name order; s.mu held.
func (s *Sim) endpoints(svc *service) []string {
	type ep struct{ pod, addr string }
	var eps []ep
	for _, p := range s.pods {
		if p.namespace == svc.namespace && p.ready && p.server != nil && svc.selector.Matches(labels.Set(p.labels)) {
			eps = append(eps, ep{p.name, p.server.addr()})
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].pod < eps[j].pod })
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.addr
	}
	return out
}
