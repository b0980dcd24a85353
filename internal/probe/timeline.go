package probe

import (
	"math"
	"slices"
	"time"
)

// DefaultMaxBins is the most timeline bins Recorder.Summary produces.
const DefaultMaxBins = 600

// BinWidth returns the smallest round width (1ms, 2ms, 5ms, 10ms, … 30m, 1h)
// that covers span in at most maxBins bins, or span/maxBins rounded up to
// the hour beyond that. span <= 0 gives 1ms; maxBins < 1 is treated as 1.
func BinWidth(span time.Duration, maxBins int) time.Duration {
	maxBins = max(maxBins, 1)
	// Round widths a reader takes in at a glance.
	widths := [...]time.Duration{
		time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
		10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
		15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
		5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour,
	}
	for _, w := range widths {
		if binCount(span, w) <= maxBins {
			return w
		}
	}
	per := (span + time.Duration(maxBins) - 1) / time.Duration(maxBins)
	return (per + time.Hour - 1) / time.Hour * time.Hour
}

// binCount is how many bins of width w cover [0, span]: at least 1.
func binCount(span, w time.Duration) int {
	if span <= 0 {
		return 1
	}
	return int((span + w - 1) / w)
}

// Bin is one fixed-width slice of the timeline: the samples whose Start falls
// in [Start, Start+width).
type Bin struct {
	Start    time.Time
	Requests int64
	Failures int64
	// P99 is the 99th percentile (nearest rank) latency of the successful
	// samples in the bin; 0 when there are none.
	P99 time.Duration
}

// bins groups recs (sorted by start) into fixed-width bins from start
// (Unix ns); the last bin holds end. It returns nil for width <= 0.
func bins(recs []rec, start, end int64, width time.Duration) []Bin {
	if width <= 0 {
		return nil
	}
	w := int64(width)
	n := binCount(time.Duration(end-start), width)
	if (end-start)%w == 0 && end > start {
		n++ // end itself starts a bin
	}
	out := make([]Bin, n)
	for i := range out {
		out[i].Start = time.Unix(0, start+int64(i)*w).UTC()
	}
	var lat []int64
	i := 0
	for b := range out {
		lo, hi := start+int64(b)*w, start+int64(b+1)*w
		lat = lat[:0]
		for ; i < len(recs) && recs[i].start < hi; i++ {
			x := recs[i]
			if x.start < lo {
				continue // before start: cannot happen for summarize's input
			}
			out[b].Requests++
			if x.ok() {
				lat = append(lat, x.latency)
			} else {
				out[b].Failures++
			}
		}
		out[b].P99 = time.Duration(nearestRank(lat, 0.99))
	}
	return out
}

// nearestRank returns the q-quantile of vs by the nearest-rank method
// (sorting vs in place); 0 for an empty slice.
func nearestRank(vs []int64, q float64) int64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	rank := int(math.Ceil(q * float64(len(vs))))
	return vs[min(max(rank, 1), len(vs))-1]
}
