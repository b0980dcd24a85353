package scenario

import (
	"fmt"
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

// overlapping counts writes that certainly landed on a Route (or its child)
// owned by the other version: a write by stable sent after the label patch
// that handed the Route to the canary was answered, or a write by the canary
// answered before that patch was sent (or on a Route never handed over). A
// write whose round trip overlaps the patch's is not counted: admission may
// have seen either label.
func (t *tracker) overlapping(stable, canaryRev string) (int, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	var examples []string
	for _, w := range t.writes {
		m, moved := t.moved[w.Route]
		bad := false
		switch w.Version {
		case stable:
			bad = moved && w.At.After(m.Done)
		case canaryRev:
			bad = !moved || w.Done.Before(m.Sent)
		}
		if bad {
			n++
			if len(examples) < 5 {
				examples = append(examples, fmt.Sprintf("%s %s %s at %s (moved %v: sent %s, done %s)", w.Version, w.Verb, w.Route,
					w.At.Format("15:04:05.000000"), moved, m.Sent.Format("15:04:05.000000"), m.Done.Format("15:04:05.000000")))
			}
		}
	}
	return n, examples
}
