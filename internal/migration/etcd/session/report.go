package session

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/handover-dev/handover/internal/report"
)

// ReportRun builds the report run for one migration outcome (kind
// "etcd-migration"): the probe summary per phase, Checks from the probe's
// verification (acknowledged_writes, missing_acknowledged_writes,
// watch_gaps, stale_reads) and Metrics: worst_write_stall_ms,
// catchup_mib_per_s (total bytes over total data catch-up time: from each
// target's provisioning to the first poll seeing its applied index at the
// leader's, so its resolution is the poll interval), catchup_mib (mean
// database size per target), catchup_s (mean data catch-up time) and
// learner_ready_s (mean time until the learner also served clients);
// for the leadership transfers: leader_transfers, leader_transfers_held,
// transfer_hold_ms (the longest quiet + move + follow time of a held
// transfer: what held clients waited, without the hold's own latency) and
// transfer_inflight_requests (client requests in flight on the voters at
// the moves, by their /metrics: each may have failed; 0 when every client
// was held).
func ReportRun(name string, out *Outcome) report.Run {
	r := report.NewRun(name, "etcd-migration", out.Summary)
	if out.State != nil {
		r.Outcome = string(out.State.Outcome)
	}
	r.PointOfNoReturn = out.PointOfNoReturn
	r.Metrics = map[string]float64{}
	r.Checks = map[string]int64{}
	if out.Probed {
		for k, v := range out.Probe.Checks() {
			r.Checks[k] = v
		}
		for k, v := range out.Probe.Metrics() {
			r.Metrics[k] = v
		}
	}
	if n := len(out.CatchUps); n > 0 {
		var bytes int64
		var secs, ready float64
		for _, c := range out.CatchUps {
			bytes += c.Bytes
			secs += c.Duration.Seconds()
			ready += c.Ready.Seconds()
		}
		if secs > 0 {
			r.Metrics["catchup_mib_per_s"] = float64(bytes) / (1 << 20) / secs
		}
		r.Metrics["catchup_mib"] = float64(bytes) / (1 << 20) / float64(n)
		r.Metrics["catchup_s"] = secs / float64(n)
		r.Metrics["learner_ready_s"] = ready / float64(n)
	}
	if n := len(out.Transfers); n > 0 {
		r.Metrics["leader_transfers"] = float64(n)
		var held, inflight, longest float64
		for _, t := range out.Transfers {
			inflight += t.InFlight
			if t.Held {
				held++
				longest = max(longest, float64((t.Quiet+t.Moved+t.Followed).Microseconds())/1000)
			}
		}
		r.Metrics["leader_transfers_held"] = held
		r.Metrics["transfer_hold_ms"] = longest
		r.Metrics["transfer_inflight_requests"] = inflight
	}
	return r
}

// WriteReportFiles writes rep as JSON (handover.report/v1, report.WriteJSON)
// to jsonPath and its timeline as SVG (report.WriteSVG) to svgPath, creating
// missing parent directories (mode 0750) and truncating existing files; an
// empty path skips that file. Errors name the flag: "flag --json: …" or
// "flag --svg: …" (the CLI's --json and --svg take these paths).
func WriteReportFiles(rep *report.Report, jsonPath, svgPath string) error {
	if jsonPath != "" {
		if err := writeFile(jsonPath, func(w io.Writer) error { return report.WriteJSON(w, rep) }); err != nil {
			return fmt.Errorf("flag --json: %w", err)
		}
	}
	if svgPath != "" {
		if err := writeFile(svgPath, func(w io.Writer) error { return report.WriteSVG(w, rep) }); err != nil {
			return fmt.Errorf("flag --svg: %w", err)
		}
	}
	return nil
}

// writeFile creates path (and its parent directories) and fills it.
func writeFile(path string, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
