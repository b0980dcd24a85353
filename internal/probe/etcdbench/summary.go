// Package etcdbench runs etcd's own `benchmark` tool (etcd
// tools/benchmark, pinned in hack/etcd-benchmark) as a client nobody here
// wrote, and reads the summary it prints, so a report can set what that
// client saw next to handover's own probe.
package etcdbench

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Summary is what one `benchmark` run printed at its end (etcd
// pkg/report): its wall time, the successful requests (the counts of its
// response-time histogram, one per request that returned without error)
// and the error distribution (message → count).
type Summary struct {
	Total     time.Duration
	Succeeded int64
	Errors    map[string]int64
}

// Failed returns the number of requests that returned an error.
func (s Summary) Failed() int64 {
	var n int64
	for _, c := range s.Errors {
		n += c
	}
	return n
}

var (
	totalRE = regexp.MustCompile(`(?m)^\s*Total:\s*([0-9.]+) secs`)
	histRE  = regexp.MustCompile(`(?m)^\s*[0-9.]+ \[(\d+)\]\t\|`)
	errRE   = regexp.MustCompile(`(?m)^\s*\[(\d+)\]\t(.*)$`)
)

// ParseSummary reads the summary from a run's output (stdout and stderr;
// progress-bar noise is skipped). A run where every request failed prints
// no "Summary:" section, only the error distribution. It returns an error
// when the output has neither: the run did not end normally.
func ParseSummary(out string) (Summary, error) {
	s := Summary{Errors: map[string]int64{}}
	head, errs, hasErrs := strings.Cut(out, "Error distribution:")
	i := strings.LastIndex(head, "Summary:")
	if i < 0 && !hasErrs {
		return s, fmt.Errorf("benchmark output has no summary (it did not end normally): %q", tail(out, 300))
	}
	if i >= 0 {
		body := head[i:]
		if m := totalRE.FindStringSubmatch(body); m != nil {
			secs, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return s, fmt.Errorf("benchmark summary Total %q: %w", m[1], err)
			}
			s.Total = time.Duration(secs * float64(time.Second))
		}
		hist, _, _ := strings.Cut(body, "Latency distribution:")
		for _, m := range histRE.FindAllStringSubmatch(hist, -1) {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			s.Succeeded += n
		}
	}
	if hasErrs {
		for _, m := range errRE.FindAllStringSubmatch(errs, -1) {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			s.Errors[m[2]] += n
		}
	}
	return s, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
