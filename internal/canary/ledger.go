package canary

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Ledger counts the allowed deletes of each revision in a sliding window and
// holds each revision's breaker; the webhook asks it before every delete. It
// applies AllowDelete and prunes deletes older than the window. Safe for
// concurrent use.
type Ledger struct {
	clk    clock.PassiveClock
	budget Budget

	mu      sync.Mutex
	deletes map[string][]time.Time // revision -> allowed delete times
	trips   map[string]Trip        // revision -> breaker state
	onTrip  func(revision string, t Trip)
}

// Trip is an open breaker: when and why it opened.
type Trip struct {
	At     time.Time
	Reason string
}

// NewLedger returns an empty ledger for budget; clk stamps deletes (nil =
// real clock). onTrip, when not nil, is called once per revision when its
// breaker opens (outside the ledger's lock).
func NewLedger(budget Budget, clk clock.PassiveClock, onTrip func(revision string, t Trip)) *Ledger {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Ledger{clk: clk, budget: budget, deletes: map[string][]time.Time{}, trips: map[string]Trip{}, onTrip: onTrip}
}

// Delete decides one delete by revision now and records it when allowed.
// When it denies a delete of a revision whose breaker was closed, it opens
// the breaker (and calls onTrip).
func (l *Ledger) Delete(revision string) (bool, string) { return l.DeleteN(revision, 1) }

// DeleteN is Delete for a request that deletes n objects (AllowDeletes);
// when allowed, all n are recorded.
func (l *Ledger) DeleteN(revision string, n int) (bool, string) {
	now := l.clk.Now()
	l.mu.Lock()
	_, tripped := l.trips[revision]
	ok, reason := AllowDeletes(l.budget, l.deletes[revision], tripped, now, n)
	var newTrip *Trip
	if ok {
		ts := prune(l.deletes[revision], l.budget.Window, now)
		for range max(n, 1) {
			ts = append(ts, now)
		}
		l.deletes[revision] = ts
	} else if !tripped {
		t := Trip{At: now, Reason: reason}
		l.trips[revision] = t
		newTrip = &t
	}
	l.mu.Unlock()
	if newTrip != nil && l.onTrip != nil {
		l.onTrip(revision, *newTrip)
	}
	return ok, reason
}

// Count returns revision's allowed deletes in the current window.
func (l *Ledger) Count(revision string) int {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return InWindow(l.deletes[revision], l.budget.Window, now)
}

// Tripped returns revision's open breaker, if any.
func (l *Ledger) Tripped(revision string) (Trip, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.trips[revision]
	return t, ok
}

// Restore opens revision's breaker as t without calling onTrip: a
// restarted controller (a new leader) carries over the breaker its status
// recorded, so a plan resumed between the trip and its rollback still
// fails instead of finding a fresh ledger.
func (l *Ledger) Restore(revision string, t Trip) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trips[revision] = t
}

// Reset closes revision's breaker and forgets its deletes.
func (l *Ledger) Reset(revision string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.trips, revision)
	delete(l.deletes, revision)
}

func prune(ts []time.Time, window time.Duration, now time.Time) []time.Time {
	from := now.Add(-window)
	out := ts[:0]
	for _, t := range ts {
		if t.After(from) {
			out = append(out, t)
		}
	}
	return out
}
