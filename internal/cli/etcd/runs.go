package etcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// runRecord is one run of `etcd migrate` over a state dir, kept in
// runs.json so a resumed run's report can account for the runs before it.
type runRecord struct {
	Started time.Time `json:"started"`
	// Ended is zero for a run that wrote no report (killed, or running).
	Ended    time.Time `json:"ended,omitzero"`
	Requests int64     `json:"requests,omitempty"`
	Failures int64     `json:"failures,omitempty"`
}

// runHistory is what the report says about the runs of one migration.
type runHistory struct {
	Runs       int           // including this one
	Unreported int           // earlier runs that ended without a report
	Wall       time.Duration // first run's start to now
	Unmeasured time.Duration // time covered by no report: unreported runs until the next run began
	// EarlierRequests and EarlierFailures sum the earlier runs' reports.
	EarlierRequests, EarlierFailures int64
}

// History judges the records of earlier runs (oldest first) for a run that
// started at start and reports at now. Pure.
func History(earlier []runRecord, start, now time.Time) runHistory {
	h := runHistory{Runs: len(earlier) + 1, Wall: now.Sub(start)}
	if len(earlier) > 0 {
		h.Wall = now.Sub(earlier[0].Started)
	}
	for i, r := range earlier {
		next := start
		if i+1 < len(earlier) {
			next = earlier[i+1].Started
		}
		if r.Ended.IsZero() {
			h.Unreported++
			h.Unmeasured += next.Sub(r.Started)
			continue
		}
		h.EarlierRequests += r.Requests
		h.EarlierFailures += r.Failures
		h.Unmeasured += max(next.Sub(r.Ended), 0)
	}
	return h
}

// String is the report line, "" for a first run.
func (h runHistory) String() string {
	if h.Runs <= 1 {
		return ""
	}
	s := fmt.Sprintf("this report covers run %d of %d; the migration began %s ago", h.Runs, h.Runs, h.Wall.Round(time.Second))
	if h.Unreported > 0 {
		s += fmt.Sprintf("; %d earlier run(s) ended without a report (killed): %s of it were not measured by any probe",
			h.Unreported, h.Unmeasured.Round(100*time.Millisecond))
	}
	if h.EarlierRequests > 0 {
		s += fmt.Sprintf("; earlier reports: %d requests, %d failed", h.EarlierRequests, h.EarlierFailures)
	}
	return s
}

func (d stateDir) runsPath() string { return filepath.Join(string(d), "runs.json") }

func (d stateDir) loadRuns() ([]runRecord, error) {
	b, err := os.ReadFile(d.runsPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var rs []runRecord
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("state dir: %s: %w", d.runsPath(), err)
	}
	return rs, nil
}

func (d stateDir) saveRuns(rs []runRecord) error {
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.runsPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return os.Rename(tmp, d.runsPath())
}
