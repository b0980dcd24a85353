package probe

import (
	"cmp"
	"slices"
	"time"
)

// LongestOutage returns the longest outage in samples and the Target it was
// seen on. Per target (Sample.Target; "" is one series), samples are taken in
// Start order; an outage is a maximal run of failed samples with no
// successful sample started in between, and lasts from the Start of its
// first failed sample to the latest end (Start+Latency) of its failed
// samples. A single failed sample is an outage as long as its latency. It
// returns (0, "") when no sample failed. Order of samples does not matter.
func LongestOutage(samples []Sample) (time.Duration, string) {
	recs, targets := samplesToRecs(samples)
	sortRecs(recs)
	d, t, ok := longestOutage(recs, len(targets))
	if !ok {
		return 0, ""
	}
	return time.Duration(d), targets[t]
}

// longestOutage is LongestOutage over recs sorted by start; nTargets bounds
// rec.target. ok is false when no rec failed.
func longestOutage(recs []rec, nTargets int) (dur int64, target uint32, ok bool) {
	type run struct {
		open       bool
		start, end int64
	}
	runs := make([]run, nTargets)
	for _, x := range recs {
		r := &runs[x.target]
		if x.ok() {
			r.open = false
			continue
		}
		if !r.open {
			*r = run{open: true, start: x.start, end: x.end()}
		} else {
			r.end = max(r.end, x.end())
		}
		if d := r.end - r.start; !ok || d > dur {
			dur, target, ok = d, x.target, true
		}
	}
	return dur, target, ok
}

func sortRecs(recs []rec) {
	slices.SortStableFunc(recs, func(a, b rec) int { return cmp.Compare(a.start, b.start) })
}

// samplesToRecs converts samples for the pure functions; classes are not
// interned (any failure is class 1).
func samplesToRecs(samples []Sample) ([]rec, []string) {
	recs := make([]rec, len(samples))
	ix := map[string]uint32{}
	var targets []string
	for i, s := range samples {
		t, seen := ix[s.Target]
		if !seen {
			t = uint32(len(targets)) //nolint:gosec // G115: a slice of strings is far shorter than 1<<32
			ix[s.Target] = t
			targets = append(targets, s.Target)
		}
		recs[i] = rec{start: s.Start.UnixNano(), latency: max(int64(s.Latency), 0), target: t}
		if s.Err != nil {
			recs[i].class = 1
		}
	}
	return recs, targets
}
