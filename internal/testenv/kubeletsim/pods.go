package kubeletsim

import (
	"os"
	"path/filepath"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/handover-dev/handover/internal/fleet"
	"github.com/handover-dev/handover/internal/tlsloop"
)

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
		m := &mount{spec: v, vol: vol, ld: &tlsloop.Loader{Source: vol, BundleErr: ErrMissingSource}, owner: ps}
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
	srv, err := tlsloop.NewServer(cfg)
	if err != nil {
		s.logf("kubeletsim: pod %s/%s: listen: %v", ps.namespace, ps.name, err)
		return
	}
	ps.server = srv
	ps.gen, _ = ps.serve.vol.Generation()
	s.stats.ServersStarted++
	s.logf("kubeletsim: pod %s/%s started (%s) on %s with %s", ps.namespace, ps.name, ps.reload, srv.Addr(), ps.gen)
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
	n := handed[srv.Addr()]
	s.stopping.Add(1)
	s.clk.AfterFunc(s.opts.TerminationGrace, func() {
		go func() { // see onObject
			defer s.stopping.Done()
			srv.Stop(n, drainWait)
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
		for a, n := range svc.lb.Set(s.endpoints(svc)) {
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
			eps = append(eps, ep{p.name, p.server.Addr()})
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].pod < eps[j].pod })
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.addr
	}
	return out
}
