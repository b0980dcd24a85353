package plan

import (
	"context"
	"sync"
)

// MemoryCheckpoint keeps the last saved State in memory. It is safe for
// concurrent use; the zero value is empty (Load returns (nil, nil)). Save
// and Load copy the State, so callers may keep mutating theirs. It is for
// tests, the demo and runs that need no resume across processes.
type MemoryCheckpoint struct {
	mu sync.Mutex
	st *State
}

// Load returns a copy of the last saved State, or (nil, nil) before the
// first Save. It never fails.
func (m *MemoryCheckpoint) Load(context.Context) (*State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneState(m.st), nil
}

// Save stores a copy of s (nil clears it). It never fails.
func (m *MemoryCheckpoint) Save(_ context.Context, s *State) error {
	c := cloneState(s)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = c
	return nil
}

func cloneState(s *State) *State {
	if s == nil {
		return nil
	}
	c := *s
	c.Steps = append([]StepState(nil), s.Steps...)
	return &c
}
