package probe

import (
	"cmp"
	"slices"
)

// phaseSpan is one phase interval [start, end) and the index range
// [lo, hi) of the recs (sorted by start) that started in it.
type phaseSpan struct {
	name       string
	start, end int64
	lo, hi     int
}

func sortMarks(marks []mark) {
	slices.SortStableFunc(marks, func(a, b mark) int { return cmp.Compare(a.at, b.at) })
}

// phases splits [start, end] at the marks (sorted by time): a "baseline"
// phase before the first mark (kept only if a sample started in it, or if
// there is no mark at all), then one phase per mark up to the next mark; the
// last phase runs to end and includes it. recs must be sorted by start.
func phases(recs []rec, marks []mark, start, end int64) []phaseSpan {
	var out []phaseSpan
	i := 0
	cut := func(name string, lo, hi int64, last bool) phaseSpan {
		p := phaseSpan{name: name, start: lo, end: hi, lo: i}
		for i < len(recs) && (recs[i].start < hi || last) {
			i++
		}
		p.hi = i
		return p
	}
	if len(marks) == 0 {
		return []phaseSpan{cut(PhaseBaseline, start, end, true)}
	}
	if b := cut(PhaseBaseline, start, marks[0].at, false); b.hi > b.lo {
		out = append(out, b)
	}
	for k, m := range marks {
		last := k == len(marks)-1
		hi := end
		if !last {
			hi = marks[k+1].at
		}
		out = append(out, cut(m.name, m.at, hi, last))
	}
	return out
}
