// Package report turns probe summaries into the versioned JSON document
// "handover.report/v1" (documented field by field in docs/report-schema.md),
// a human table and an SVG timeline.
package report

import (
	"math"
	"time"

	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/version"
)

// Schema is the value of Report.Schema this package writes and reads.
const Schema = "handover.report/v1"

// Report is one report document: the runs of one invocation (e.g. the
// "staged" and "atomic" strategies side by side).
type Report struct {
	Schema      string    `json:"schema"`
	Tool        Tool      `json:"tool"`
	GeneratedAt time.Time `json:"generated_at"`
	Runs        []Run     `json:"runs"`
}

// Tool identifies the binary that wrote the report.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// Run is one measured transition. Durations are milliseconds (float64,
// rounded to the microsecond); offsets (Phase.StartMS, Bin.TMS) are
// milliseconds since StartedAt.
type Run struct {
	Name            string            `json:"name"`    // e.g. "staged", "atomic", "etcd-migration"
	Kind            string            `json:"kind"`    // "trust-rotation" | "etcd-migration" | ...
	Outcome         string            `json:"outcome"` // plan outcome ("Succeeded", "RolledBack", "Failed") or "" if none
	StartedAt       time.Time         `json:"started_at"`
	EndedAt         time.Time         `json:"ended_at"`
	WallMS          float64           `json:"wall_ms"`
	Requests        int64             `json:"requests"`
	Failures        int64             `json:"failures"`
	FailureClasses  map[string]int64  `json:"failure_classes"`
	FailureExamples map[string]string `json:"failure_examples,omitempty"` // first error message per class
	LongestOutageMS float64           `json:"longest_outage_ms"`
	// LongestOutageTarget is the probe target the longest outage was seen on.
	LongestOutageTarget string             `json:"longest_outage_target,omitempty"`
	Latency             LatencyMS          `json:"latency"`
	Phases              []Phase            `json:"phases"`
	BinMS               float64            `json:"bin_ms"` // width of every Timeline bin
	Timeline            []Bin              `json:"timeline"`
	Metrics             map[string]float64 `json:"metrics,omitempty"` // capability figures: "floor_ms", "catchup_mib_per_s", ...
	Checks              map[string]int64   `json:"checks,omitempty"`  // verified counts: "missing_acknowledged_writes": 0, ...
	// PointOfNoReturn names the phase (plan step) from whose start the plan
	// only goes forward; "" when unknown or when every step can be reverted.
	PointOfNoReturn string `json:"point_of_no_return,omitempty"`
}

// LatencyMS is latency percentiles of successful attempts, milliseconds.
type LatencyMS struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Phase is the figures for the samples that started in one phase.
type Phase struct {
	Name                string           `json:"name"`
	StartMS             float64          `json:"start_ms"`
	EndMS               float64          `json:"end_ms"`
	Requests            int64            `json:"requests"`
	Failures            int64            `json:"failures"`
	FailureClasses      map[string]int64 `json:"failure_classes"`
	LongestOutageMS     float64          `json:"longest_outage_ms"`
	LongestOutageTarget string           `json:"longest_outage_target,omitempty"`
	Latency             LatencyMS        `json:"latency"`
}

// Bin is one timeline slice [TMS, TMS+Run.BinMS).
type Bin struct {
	TMS      float64 `json:"t_ms"`
	Requests int64   `json:"requests"`
	Failures int64   `json:"failures"`
	P99MS    float64 `json:"p99_ms"` // 0 when no attempt in the bin succeeded
}

// NewRun converts a probe summary. Metrics and Checks are left nil for the
// caller to fill; Outcome comes from the summary (set it when the run was
// not driven by the plan engine). Maps are never nil.
func NewRun(name, kind string, s probe.Summary) Run {
	r := Run{
		Name: name, Kind: kind, Outcome: s.Outcome,
		StartedAt: s.Start, EndedAt: s.End, WallMS: ms(s.End.Sub(s.Start)),
		Requests: s.Requests, Failures: s.Failures,
		FailureClasses:  nonNil(s.FailureClasses),
		LongestOutageMS: ms(s.LongestOutage), LongestOutageTarget: s.LongestOutageTarget,
		Latency: latency(s.Latency), BinMS: ms(s.BinWidth),
		Phases: make([]Phase, 0, len(s.Phases)), Timeline: make([]Bin, 0, len(s.Timeline)),
	}
	if len(s.ClassExamples) > 0 {
		r.FailureExamples = make(map[string]string, len(s.ClassExamples))
		for k, v := range s.ClassExamples {
			r.FailureExamples[k] = v
		}
	}
	for _, p := range s.Phases {
		r.Phases = append(r.Phases, Phase{
			Name: p.Name, StartMS: ms(p.Start.Sub(s.Start)), EndMS: ms(p.End.Sub(s.Start)),
			Requests: p.Requests, Failures: p.Failures, FailureClasses: nonNil(p.FailureClasses),
			LongestOutageMS: ms(p.LongestOutage), LongestOutageTarget: p.LongestOutageTarget,
			Latency: latency(p.Latency),
		})
	}
	for _, b := range s.Timeline {
		r.Timeline = append(r.Timeline, Bin{TMS: ms(b.Start.Sub(s.Start)), Requests: b.Requests, Failures: b.Failures, P99MS: ms(b.P99)})
	}
	return r
}

// New returns a report of runs with Schema, Tool (from internal/version)
// and GeneratedAt (now, UTC) filled in. Use NewAt for a fixed time.
func New(runs ...Run) *Report { return NewAt(time.Now(), runs...) }

// NewAt is New with an explicit generation time (tests, golden files).
func NewAt(now time.Time, runs ...Run) *Report {
	v := version.Get()
	if runs == nil {
		runs = []Run{}
	}
	return &Report{
		Schema:      Schema,
		Tool:        Tool{Name: "handover", Version: v.Version, Commit: v.Commit, GoVersion: v.GoVersion},
		GeneratedAt: now.UTC(),
		Runs:        runs,
	}
}

// ms converts d to milliseconds rounded to the microsecond.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

func latency(l probe.Latency) LatencyMS {
	return LatencyMS{P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
}

func nonNil(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
