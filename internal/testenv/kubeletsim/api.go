package kubeletsim

import (
	"fmt"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/handover-dev/handover/internal/fleet"
	"github.com/handover-dev/handover/internal/tlsloop"
)

// AddService creates a Service: a loopback address ("127.0.0.1:port") that
// round-robins each TCP connection over the servers of the Ready pods in
// namespace whose labels match selector (a Deployment's
// spec.selector.matchLabels, say). It can be added before any pod exists.
// It returns ErrDuplicateService for a namespace/name added before,
// ErrInvalidOptions for an empty selector (it would select every pod) and
// ErrClosed after Close.
func (s *Sim) AddService(namespace, name string, selector map[string]string) (string, error) {
	if len(selector) == 0 {
		return "", fmt.Errorf("%w: service %s/%s: empty selector", ErrInvalidOptions, namespace, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrClosed
	}
	key := namespace + "/" + name
	if _, ok := s.services[key]; ok {
		return "", fmt.Errorf("%w: %s", ErrDuplicateService, key)
	}
	lb, err := tlsloop.NewBalancer()
	if err != nil {
		return "", fmt.Errorf("service %s: %w", key, err)
	}
	svc := &service{namespace: namespace, name: name, selector: labels.SelectorFromSet(selector), lb: lb}
	s.services[key] = svc
	lb.Set(s.endpoints(svc))
	return lb.Addr(), nil
}

// ServiceAddr returns the address of a Service added by AddService, or an
// error wrapping ErrUnknownService.
func (s *Sim) ServiceAddr(namespace, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.services[namespace+"/"+name]
	if !ok {
		return "", fmt.Errorf("%w: %s/%s", ErrUnknownService, namespace, name)
	}
	return svc.lb.Addr(), nil
}

// ServiceEndpoints returns the pod server addresses a Service balances over
// now, or an error wrapping ErrUnknownService.
func (s *Sim) ServiceEndpoints(namespace, name string) ([]string, error) {
	s.mu.Lock()
	svc, ok := s.services[namespace+"/"+name]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", ErrUnknownService, namespace, name)
	}
	return svc.lb.Backends(), nil
}

// Pod is the simulator's view of one pod it runs.
type Pod struct {
	Namespace, Name string
	UID             types.UID
	Reload          Reload
	// Ready is the pod's Ready condition as the simulator last saw it.
	Ready bool
	// Addr is its server's address; "" until the server started.
	Addr string
	// Generation is the volume generation directory the server loaded at
	// start ("" until started); a load-once server serves it until it stops.
	Generation string
	// Dir is the pod's directory (one subdirectory per volume).
	Dir string
}

// Pods returns the pods the simulator runs in namespace ("" = all), sorted
// by namespace and name. Pods being terminated are not listed.
func (s *Sim) Pods(namespace string) []Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Pod
	for _, p := range s.pods {
		if namespace != "" && p.namespace != namespace {
			continue
		}
		v := Pod{Namespace: p.namespace, Name: p.name, UID: p.uid, Reload: p.reload, Ready: p.ready, Generation: p.gen, Dir: p.dir}
		if p.server != nil {
			v.Addr = p.server.Addr()
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Stats returns the counters since Start.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// MountSecret mounts a Secret outside any pod (a client's certificate
// directory under Dir/<namespace>/mount-<name>-<n>): written now if the
// Secret exists, then every change after its own random delay, like a pod
// volume. It returns ErrClosed after Close and an error if the directory
// cannot be created; a Secret that does not exist yet is not an error (the
// mount fills when it appears).
func (s *Sim) MountSecret(namespace, name string) (*Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.nMounts++
	dir := filepath.Join(s.opts.Dir, namespace, fmt.Sprintf("mount-%s-%d", name, s.nMounts))
	vol, err := fleet.NewVolume(dir, s.clk)
	if err != nil {
		return nil, err
	}
	spec := volumeSpec{name: name, sources: []source{{kind: KindSecret, namespace: namespace, name: name}}}
	m := &mount{spec: spec, vol: vol, ld: &tlsloop.Loader{Source: vol, BundleErr: ErrMissingSource}}
	if _, err := s.sync(m); err != nil {
		s.logf("kubeletsim: mount %s/%s: %v", namespace, name, err)
	}
	s.mounts[m] = struct{}{}
	return &Mount{ld: m.ld, dir: dir}, nil
}
