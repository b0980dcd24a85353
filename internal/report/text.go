package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
)

// WriteText writes a human table: one row per run (requests, failed,
// failure classes, longest outage, p99, wall time), then per run its phases
// and any metrics and checks. Durations use FormatMS. It returns the first
// write error.
func (r *Report) WriteText(w io.Writer) error {
	t := &table{w: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row("RUN\tKIND\tOUTCOME\tREQUESTS\tFAILED\tLONGEST OUTAGE\tP99\tWALL\tFAILURE CLASSES")
	for _, run := range r.Runs {
		t.row("%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s", run.Name, dash(run.Kind), dash(run.Outcome),
			run.Requests, run.Failures, FormatMS(run.LongestOutageMS), FormatMS(run.Latency.P99),
			FormatMS(run.WallMS), formatClasses(run.FailureClasses))
	}
	t.flush()
	for _, run := range r.Runs {
		t.row("\n%s phases:", run.Name)
		t.row("  PHASE\tSTART\tDURATION\tREQUESTS\tFAILED\tLONGEST OUTAGE\tP99\tFAILURE CLASSES")
		for _, p := range run.Phases {
			t.row("  %s\t+%s\t%s\t%d\t%d\t%s\t%s\t%s", p.Name, FormatMS(p.StartMS), FormatMS(p.EndMS-p.StartMS),
				p.Requests, p.Failures, FormatMS(p.LongestOutageMS), FormatMS(p.Latency.P99), formatClasses(p.FailureClasses))
		}
		for _, k := range slices.Sorted(maps.Keys(run.Metrics)) {
			t.row("  metric %s\t%s", k, trimZero(fmt.Sprintf("%.3f", run.Metrics[k])))
		}
		for _, k := range slices.Sorted(maps.Keys(run.Checks)) {
			t.row("  check %s\t%d", k, run.Checks[k])
		}
		t.flush()
	}
	if t.err != nil {
		return fmt.Errorf("write report text: %w", t.err)
	}
	return nil
}

// table writes tab-separated rows and keeps the first error.
type table struct {
	w   *tabwriter.Writer
	err error
}

func (t *table) row(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
	}
}

func (t *table) flush() {
	if t.err == nil {
		t.err = t.w.Flush()
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
