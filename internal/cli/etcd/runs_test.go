package etcd

import (
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name    string
		earlier []runRecord
		start   time.Time
		want    runHistory
		line    string
	}{
		{"first run", nil, at(0), runHistory{Runs: 1, Wall: 60 * time.Second}, ""},
		{"two kills", []runRecord{{Started: at(0)}, {Started: at(10)}}, at(25),
			runHistory{Runs: 3, Unreported: 2, Wall: 85 * time.Second, Unmeasured: 25 * time.Second},
			"this report covers run 3 of 3; the migration began 1m25s ago; 2 earlier run(s) ended without a report (killed): 25s of it were not measured by any probe"},
		{"a reported run, then a kill", []runRecord{{Started: at(0), Ended: at(20), Requests: 900, Failures: 1}, {Started: at(30)}}, at(40),
			runHistory{Runs: 3, Unreported: 1, Wall: 100 * time.Second, Unmeasured: 20 * time.Second, EarlierRequests: 900, EarlierFailures: 1},
			"this report covers run 3 of 3; the migration began 1m40s ago; 1 earlier run(s) ended without a report (killed): 20s of it were not measured by any probe; earlier reports: 900 requests, 1 failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := History(tc.earlier, tc.start, tc.start.Add(60*time.Second))
			if h != tc.want {
				t.Fatalf("History = %+v, want %+v", h, tc.want)
			}
			if got := h.String(); got != tc.line {
				t.Fatalf("line %q, want %q", got, tc.line)
			}
		})
	}
}
