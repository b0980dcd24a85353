package kubeletsim

import (
	"crypto/sha256"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

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
