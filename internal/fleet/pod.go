package fleet

import (
	"maps"
	"sync"

	"github.com/handover-dev/handover/internal/tlsloop"
)

// secret is a consumer's source of truth (the Kubernetes Secret): the files
// every pod of the consumer mounts, with a version bumped on every change.
type secret struct {
	mu      sync.Mutex
	files   map[string][]byte
	version int64
}

func (s *secret) update(files map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		s.files = map[string][]byte{}
	}
	maps.Copy(s.files, files)
	s.version++
}

func (s *secret) snapshot() (map[string][]byte, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.files), s.version
}

// pod is one mount of a consumer's secret: a Volume the kubelet model
// updates after a per-pod delay.
type pod struct {
	name string
	vol  *Volume
	ld   *tlsloop.Loader

	mu      sync.Mutex
	mounted int64 // secret version last written to vol
}

// sync writes the secret's current content to the volume unless the volume
// already holds that version or a newer one (a late timer is a no-op).
func (p *pod) sync(s *secret) error {
	files, version := s.snapshot()
	p.mu.Lock()
	defer p.mu.Unlock()
	if version <= p.mounted {
		return nil
	}
	if err := p.vol.Write(files); err != nil {
		return err
	}
	p.mounted = version
	return nil
}
