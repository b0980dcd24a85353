package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// WriteJSON writes r as indented JSON (two spaces) followed by a newline.
// Field order is the struct order and map keys are sorted, so the same
// report always gives the same bytes. It returns an error wrapping
// ErrSchema or ErrInvalidReport, writing nothing, when r does not validate.
func WriteJSON(w io.Writer, r *Report) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// ReadJSON decodes and validates a report. Unknown fields are allowed
// (later v1 writers may add fields); a different schema is ErrSchema.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks what consumers rely on: Schema, a name per run, no
// negative counts or durations, failures <= requests, finite numbers. A nil
// report is invalid.
func (r *Report) Validate() error {
	if r == nil {
		return fmt.Errorf("%w: report is nil", ErrInvalidReport)
	}
	if r.Schema != Schema {
		return fmt.Errorf("%w: report.schema is %q, want %q", ErrSchema, r.Schema, Schema)
	}
	for i, run := range r.Runs {
		bad := func(field, problem string) error {
			return fmt.Errorf("%w: runs[%d] (%q).%s %s", ErrInvalidReport, i, run.Name, field, problem)
		}
		switch {
		case run.Name == "":
			return bad("name", "is empty")
		case run.Requests < 0:
			return bad("requests", "is negative")
		case run.Failures < 0 || run.Failures > run.Requests:
			return bad("failures", fmt.Sprintf("is %d, want 0..requests (%d)", run.Failures, run.Requests))
		}
		for _, f := range []struct {
			field string
			v     float64
		}{
			{"wall_ms", run.WallMS}, {"longest_outage_ms", run.LongestOutageMS}, {"bin_ms", run.BinMS},
			{"latency.p50_ms", run.Latency.P50}, {"latency.p90_ms", run.Latency.P90},
			{"latency.p99_ms", run.Latency.P99}, {"latency.max_ms", run.Latency.Max},
		} {
			if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
				return bad(f.field, fmt.Sprintf("is %v, want a finite value >= 0", f.v))
			}
		}
		for name, v := range run.Metrics {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return bad("metrics."+name, "is not finite")
			}
		}
	}
	return nil
}
