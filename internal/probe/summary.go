package probe

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Summary is what a Recorder measured. Durations are time.Duration; times
// come from the samples' and events' clocks.
type Summary struct {
	// Start is the earliest sample start or phase mark; End the latest
	// sample end (Start+Latency) or phase mark. Zero when nothing was recorded.
	Start, End time.Time
	// Outcome is the plan's outcome from EventPlanEnded ("" if none seen).
	Outcome  string
	Requests int64
	Failures int64
	// FailureClasses counts failed samples per class; never nil.
	FailureClasses map[string]int64
	// ClassExamples holds the first error message seen per class; never nil.
	ClassExamples map[string]string
	// LongestOutage is the maximum over targets (see LongestOutage) and
	// LongestOutageTarget the target it was seen on.
	LongestOutage       time.Duration
	LongestOutageTarget string
	// LastFailure is the latest end (Start+Latency) of a failed sample;
	// zero when none failed.
	LastFailure time.Time
	// Latency is over successful samples only: a failed attempt's duration
	// mostly measures the probe's timeout, not the system.
	Latency Latency
	// Phases are the time intervals between phase marks, in time order;
	// names may repeat (a step resumed or a Mark reused).
	Phases []PhaseSummary
	// BinWidth is the width of every Timeline bin (see BinWidth); Timeline
	// covers [Start, End] with at most DefaultMaxBins bins.
	BinWidth time.Duration
	Timeline []Bin
}

// Latency holds percentiles of successful attempts' latencies, recorded in an
// HDR histogram at microsecond resolution with 3 significant digits (values
// above one hour are clamped to one hour; a percentile is the highest value
// of its histogram bucket, capped at Max). Max is exact. All zero when no
// sample succeeded.
type Latency struct {
	P50, P90, P99, Max time.Duration
}

// PhaseSummary is the figures for the samples that started in
// [Start, End) of one phase (the last phase includes End). LongestOutage is
// computed over the phase's samples only.
type PhaseSummary struct {
	Name                string
	Start, End          time.Time
	Requests            int64
	Failures            int64
	FailureClasses      map[string]int64 // never nil
	LongestOutage       time.Duration
	LongestOutageTarget string
	Latency             Latency
}

type summaryInput struct {
	recs     []rec
	marks    []mark
	targets  []string
	classes  []string
	examples map[string]string
	outcome  string
}

// tally is the figures shared by the whole run and each phase.
type tally struct {
	requests, failures int64
	classes            map[string]int64
	outage             time.Duration
	outageTarget       string
	latency            Latency
}

func summarize(in summaryInput, maxBins int) Summary {
	s := Summary{Outcome: in.outcome, FailureClasses: map[string]int64{}, ClassExamples: in.examples}
	if len(in.recs) == 0 && len(in.marks) == 0 {
		return s
	}
	sortRecs(in.recs)
	sortMarks(in.marks)
	start, end := span(in.recs, in.marks)
	s.Start, s.End = time.Unix(0, start).UTC(), time.Unix(0, end).UTC()

	all := tallyOf(in.recs, in)
	s.Requests, s.Failures, s.FailureClasses = all.requests, all.failures, all.classes
	s.LongestOutage, s.LongestOutageTarget, s.Latency = all.outage, all.outageTarget, all.latency
	var last int64
	for _, x := range in.recs {
		if !x.ok() {
			last = max(last, x.end())
		}
	}
	if last != 0 {
		s.LastFailure = time.Unix(0, last).UTC()
	}

	for _, p := range phases(in.recs, in.marks, start, end) {
		t := tallyOf(in.recs[p.lo:p.hi], in)
		s.Phases = append(s.Phases, PhaseSummary{
			Name: p.name, Start: time.Unix(0, p.start).UTC(), End: time.Unix(0, p.end).UTC(),
			Requests: t.requests, Failures: t.failures, FailureClasses: t.classes,
			LongestOutage: t.outage, LongestOutageTarget: t.outageTarget, Latency: t.latency,
		})
	}
	s.BinWidth = BinWidth(time.Duration(end-start), maxBins)
	s.Timeline = bins(in.recs, start, end, s.BinWidth)
	return s
}

// span returns the earliest start and latest end over recs and marks, which
// must not both be empty.
func span(recs []rec, marks []mark) (start, end int64) {
	first := true
	see := func(lo, hi int64) {
		if first {
			start, end, first = lo, hi, false
			return
		}
		start, end = min(start, lo), max(end, hi)
	}
	for _, x := range recs {
		see(x.start, x.end())
	}
	for _, m := range marks {
		see(m.at, m.at)
	}
	return start, end
}

func tallyOf(recs []rec, in summaryInput) tally {
	t := tally{classes: map[string]int64{}}
	h := hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	var maxLat int64
	for _, x := range recs {
		t.requests++
		if !x.ok() {
			t.failures++
			t.classes[in.classes[x.class-1]]++
			continue
		}
		maxLat = max(maxLat, x.latency)
		us := min(max(x.latency/int64(time.Microsecond), 1), h.HighestTrackableValue())
		_ = h.RecordValue(us) // cannot fail: us is clamped to the trackable range
	}
	if h.TotalCount() > 0 {
		// HDR reports the highest value equivalent to the bucket; never
		// above the exact maximum.
		q := func(p float64) time.Duration {
			return min(time.Duration(h.ValueAtQuantile(p))*time.Microsecond, time.Duration(maxLat))
		}
		t.latency = Latency{P50: q(50), P90: q(90), P99: q(99), Max: time.Duration(maxLat)}
	}
	if d, tg, ok := longestOutage(recs, len(in.targets)); ok {
		t.outage, t.outageTarget = time.Duration(d), in.targets[tg]
	}
	return t
}
