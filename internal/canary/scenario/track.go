package scenario

import (
	"strings"
	"sync"
	"time"

	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
)

// tracker records the sample controllers' writes and handover's moves, to
// count deletes and find overlapping writes. Safe for concurrent use.
type tracker struct {
	mu     sync.Mutex
	writes []sample.Write
	moved  map[string]canary.Move // "namespace/name" of a Route -> its first move to the canary
}

func newTracker() *tracker { return &tracker{moved: map[string]canary.Move{}} }

func (t *tracker) write(w sample.Write) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writes = append(t.writes, w)
}

// move records that a Route was relabelled; the key is canary.Key form
// ("group/Kind/namespace/name"). Only moves to canaryRev are kept: a
// Route's handover time is its first move to the canary.
func (t *tracker) move(canaryRev string) func(canary.Move) {
	return func(m canary.Move) {
		if m.Revision != canaryRev {
			return
		}
		parts := strings.Split(m.Key, "/")
		if len(parts) != 4 {
			return
		}
		k := parts[2] + "/" + parts[3]
		t.mu.Lock()
		defer t.mu.Unlock()
		if _, ok := t.moved[k]; !ok {
			t.moved[k] = m
		}
	}
}

// deletes returns the number of deletes by version and the time of the
// last one.
func (t *tracker) deletes(version string) (int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	var last time.Time
	for _, w := range t.writes {
		if w.Version == version && w.Verb == "delete" {
			n++
			if w.At.After(last) {
				last = w.At
			}
		}
	}
	return n, last
}

// overlapping counts writes that landed on a Route (or its child) owned by
// the other version: a write by stable sent after the label patch that
// handed the Route to the canary was answered, or a write by the canary sent
// before that patch was sent (or on a Route never handed over). Writes sent
// while the patch was in flight are not counted: either side may win.
func (t *tracker) overlapping(stable, canaryRev string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, w := range t.writes {
		m, moved := t.moved[w.Route]
		switch w.Version {
		case stable:
			if moved && w.At.After(m.Done) {
				n++
			}
		case canaryRev:
			if !moved || w.At.Before(m.Sent) {
				n++
			}
		}
	}
	return n
}
