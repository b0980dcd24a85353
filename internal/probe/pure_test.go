package probe

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func at(n int) time.Time { return t0.Add(ms(n)) }

var errX = errors.New("boom")

// ok and bad build samples starting at t0+startMS lasting latMS.
func ok(target string, startMS, latMS int) Sample {
	return Sample{Target: target, Start: at(startMS), Latency: ms(latMS)}
}

func bad(target string, startMS, latMS int) Sample {
	return Sample{Target: target, Start: at(startMS), Latency: ms(latMS), Err: errX}
}

func TestLongestOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		samples    []Sample
		want       time.Duration
		wantTarget string
	}{
		{"empty", nil, 0, ""},
		{"all ok", []Sample{ok("", 0, 5), ok("", 10, 5)}, 0, ""},
		{"single failure lasts its latency", []Sample{ok("", 0, 1), bad("", 10, 7), ok("", 20, 1)}, ms(7), ""},
		{"run of failures spans first start to last end",
			[]Sample{ok("", 0, 1), bad("", 10, 2), bad("", 20, 2), bad("", 30, 5), ok("", 40, 1)}, ms(25), ""},
		{"success in between splits the run",
			[]Sample{bad("", 0, 2), bad("", 10, 2), ok("", 20, 1), bad("", 30, 2)}, ms(12), ""},
		{"overlapping failure ending last extends the run",
			[]Sample{bad("", 0, 100), bad("", 10, 5)}, ms(100), ""},
		{"input order does not matter",
			[]Sample{bad("", 30, 5), ok("", 40, 1), bad("", 10, 2), ok("", 0, 1), bad("", 20, 2)}, ms(25), ""},
		{"success on another target does not split",
			[]Sample{bad("a", 0, 1), ok("b", 5, 1), bad("a", 10, 1), ok("a", 20, 1)}, ms(11), "a"},
		{"max over targets is reported with its target",
			[]Sample{bad("a", 0, 1), ok("a", 5, 1), bad("b", 0, 1), bad("b", 30, 10), ok("b", 50, 1)}, ms(40), "b"},
		{"run still open at the end counts",
			[]Sample{ok("", 0, 1), bad("", 10, 1), bad("", 20, 1)}, ms(11), ""},
		{"success started before the failure does not split even if it ends later",
			[]Sample{ok("", 0, 50), bad("", 10, 1), bad("", 20, 1)}, ms(11), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, target := LongestOutage(tc.samples)
			if got != tc.want || target != tc.wantTarget {
				t.Fatalf("LongestOutage = %v on %q, want %v on %q", got, target, tc.want, tc.wantTarget)
			}
		})
	}
}

func TestBinWidth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		span    time.Duration
		maxBins int
		want    time.Duration
	}{
		{0, 600, time.Millisecond},
		{-time.Second, 600, time.Millisecond},
		{600 * time.Millisecond, 600, time.Millisecond},
		{601 * time.Millisecond, 600, 2 * time.Millisecond},
		{10 * time.Second, 600, 20 * time.Millisecond},
		{60 * time.Second, 600, 100 * time.Millisecond},
		{5 * time.Minute, 600, 500 * time.Millisecond},
		{10 * time.Minute, 600, time.Second},
		{2 * time.Hour, 600, 15 * time.Second},
		{600 * time.Hour, 600, time.Hour},
		{1200 * time.Hour, 600, 2 * time.Hour},
		{time.Second, 0, time.Second},
		{time.Second, 1, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.span.String(), func(t *testing.T) {
			t.Parallel()
			got := BinWidth(tc.span, tc.maxBins)
			if got != tc.want {
				t.Fatalf("BinWidth(%v, %d) = %v, want %v", tc.span, tc.maxBins, got, tc.want)
			}
			if n := binCount(tc.span, got); n > max(tc.maxBins, 1) {
				t.Fatalf("BinWidth(%v, %d) = %v gives %d bins", tc.span, tc.maxBins, got, n)
			}
		})
	}
}

func TestBins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		samples    []Sample
		start, end int // ms from t0
		width      time.Duration
		want       []Bin // Start filled in by the test from the index
	}{
		{"zero width", []Sample{ok("", 0, 1)}, 0, 1, 0, nil},
		{"single instant", []Sample{ok("", 0, 0)}, 0, 0, ms(10), []Bin{{Requests: 1}}},
		{"failures and p99 of successes per bin",
			[]Sample{ok("", 0, 3), ok("", 5, 9), bad("", 9, 100), bad("", 12, 1), ok("", 25, 4)}, 0, 29, ms(10),
			[]Bin{{Requests: 3, Failures: 1, P99: ms(9)}, {Requests: 1, Failures: 1}, {Requests: 1, P99: ms(4)}}},
		{"end on a boundary gets its own bin", []Sample{ok("", 0, 20), ok("", 20, 0)}, 0, 20, ms(10),
			[]Bin{{Requests: 1, P99: ms(20)}, {}, {Requests: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs, _ := samplesToRecs(tc.samples)
			sortRecs(recs)
			got := bins(recs, at(tc.start).UnixNano(), at(tc.end).UnixNano(), tc.width)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d bins %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				w := tc.want[i]
				w.Start = at(tc.start).Add(time.Duration(i) * tc.width)
				if !got[i].Start.Equal(w.Start) || got[i].Requests != w.Requests || got[i].Failures != w.Failures || got[i].P99 != w.P99 {
					t.Errorf("bin %d = %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

func TestNearestRank(t *testing.T) {
	t.Parallel()
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(100 - i) // 100..1, unsorted on purpose
	}
	tests := []struct {
		name string
		vs   []int64
		q    float64
		want int64
	}{
		{"empty", nil, 0.99, 0},
		{"one", []int64{7}, 0.99, 7},
		{"p99 of 1..100", hundred, 0.99, 99},
		{"p50 of 1..100", append([]int64(nil), hundred...), 0.50, 50},
		{"p99 of two", []int64{5, 1}, 0.99, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := nearestRank(tc.vs, tc.q); got != tc.want {
				t.Fatalf("nearestRank = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPhases(t *testing.T) {
	t.Parallel()
	type want struct {
		name       string
		start, end int
		n          int
	}
	tests := []struct {
		name   string
		starts []int // sample starts, ms
		marks  []mark
		end    int
		want   []want
	}{
		{"no marks: one baseline", []int{0, 5}, nil, 10, []want{{PhaseBaseline, 0, 10, 2}}},
		{"empty baseline is dropped", []int{5, 15}, []mark{{at(0).UnixNano(), "a"}, {at(10).UnixNano(), "b"}}, 20,
			[]want{{"a", 0, 10, 1}, {"b", 10, 20, 1}}},
		{"baseline kept when it has samples; boundary sample goes to the later phase",
			[]int{0, 10, 19, 20}, []mark{{at(10).UnixNano(), "a"}, {at(20).UnixNano(), PhaseAfter}}, 20,
			[]want{{PhaseBaseline, 0, 10, 1}, {"a", 10, 20, 2}, {PhaseAfter, 20, 20, 1}}},
		{"repeated names are separate phases", []int{1, 11, 21},
			[]mark{{at(0).UnixNano(), "a"}, {at(10).UnixNano(), "b"}, {at(20).UnixNano(), "a"}}, 30,
			[]want{{"a", 0, 10, 1}, {"b", 10, 20, 1}, {"a", 20, 30, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var samples []Sample
			for _, s := range tc.starts {
				samples = append(samples, ok("", s, 0))
			}
			recs, _ := samplesToRecs(samples)
			sortRecs(recs)
			start := at(0).UnixNano()
			if len(tc.starts) > 0 {
				start = min(start, recs[0].start)
			}
			got := phases(recs, tc.marks, start, at(tc.end).UnixNano())
			if len(got) != len(tc.want) {
				t.Fatalf("got %d phases %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.name != w.name || g.start != at(w.start).UnixNano() || g.end != at(w.end).UnixNano() || g.hi-g.lo != w.n {
					t.Errorf("phase %d = %s [%v,%v) n=%d, want %+v", i, g.name,
						time.Duration(g.start-start), time.Duration(g.end-start), g.hi-g.lo, w)
				}
			}
		})
	}
}
