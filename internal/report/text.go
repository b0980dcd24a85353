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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tKIND\tOUTCOME\tREQUESTS\tFAILED\tLONGEST OUTAGE\tP99\tWALL\tFAILURE CLASSES")
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", run.Name, dash(run.Kind), dash(run.Outcome),
			run.Requests, run.Failures, FormatMS(run.LongestOutageMS), FormatMS(run.Latency.P99),
			FormatMS(run.WallMS), formatClasses(run.FailureClasses))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report text: %w", err)
	}
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "\n%s phases:\n", run.Name)
		fmt.Fprintln(tw, "  PHASE\tSTART\tDURATION\tREQUESTS\tFAILED\tLONGEST OUTAGE\tP99\tFAILURE CLASSES")
		for _, p := range run.Phases {
			fmt.Fprintf(tw, "  %s\t+%s\t%s\t%d\t%d\t%s\t%s\t%s\n", p.Name, FormatMS(p.StartMS), FormatMS(p.EndMS-p.StartMS),
				p.Requests, p.Failures, FormatMS(p.LongestOutageMS), FormatMS(p.Latency.P99), formatClasses(p.FailureClasses))
		}
		for _, k := range slices.Sorted(maps.Keys(run.Metrics)) {
			fmt.Fprintf(tw, "  metric %s\t%s\n", k, trimZero(fmt.Sprintf("%.3f", run.Metrics[k])))
		}
		for _, k := range slices.Sorted(maps.Keys(run.Checks)) {
			fmt.Fprintf(tw, "  check %s\t%d\n", k, run.Checks[k])
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write report text: %w", err)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
