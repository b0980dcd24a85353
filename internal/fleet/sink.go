package fleet

import (
	"sync/atomic"

	"github.com/handover-dev/handover/internal/probe"
)

// countingSink counts samples and forwards them.
type countingSink struct {
	next               probe.Sink
	requests, failures atomic.Int64
}

func (s *countingSink) Add(smp probe.Sample) {
	s.requests.Add(1)
	if !smp.OK() {
		s.failures.Add(1)
	}
	if s.next != nil {
		s.next.Add(smp)
	}
}
