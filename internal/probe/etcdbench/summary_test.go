package etcdbench

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseSummary(t *testing.T) {
	t.Parallel()
	const ok = "\n 750 / 750 [====] 100.00% 15s\n\nSummary:\n  Total:\t15.0123 secs.\n  Slowest:\t0.2310 secs.\n  Fastest:\t0.0010 secs.\n" +
		"  Average:\t0.0040 secs.\n  Stddev:\t0.0100 secs.\n  Requests/sec:\t49.8258\n\nResponse time histogram:\n" +
		"  0.0010 [1]\t|\n  0.0240 [740]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎\n  0.2310 [7]\t|\n\nLatency distribution:\n" +
		"  10% in 0.0020 secs.\n  99% in 0.0300 secs.\n"
	const errs = "\nError distribution:\n  [1]\trpc error: code = Unknown desc = raft proposal dropped\n  [1]\trpc error: code = Unavailable desc = raft: stopped\n"
	tests := []struct {
		name              string
		in                string
		succeeded, failed int64
		total             time.Duration
		wantErr           bool
	}{
		{"clean", ok, 748, 0, 15012300 * time.Microsecond, false},
		{"with errors", ok + errs, 748, 2, 15012300 * time.Microsecond, false},
		{"all failed", "\n 3 / 3\n" + errs, 0, 2, 0, false},
		{"killed", " 12 / 750 [==>", 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSummary(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if s.Succeeded != tc.succeeded || s.Failed() != tc.failed || s.Total.Round(time.Microsecond) != tc.total {
				t.Fatalf("= %d succeeded, %d failed, total %s; want %d, %d, %s", s.Succeeded, s.Failed(), s.Total, tc.succeeded, tc.failed, tc.total)
			}
		})
	}
}

func TestTallyRuns(t *testing.T) {
	t.Parallel()
	dropped := "rpc error: code = Unknown desc = raft proposal dropped"
	tests := []struct {
		name string
		runs []Run
		want Tally
	}{
		{"none", nil, Tally{}},
		{"accounted", []Run{
			{Planned: 750, Summary: Summary{Succeeded: 750, Total: 15 * time.Second}},
			{Planned: 750, Summary: Summary{Succeeded: 749, Errors: map[string]int64{dropped: 1}, Total: 16 * time.Second}},
		}, Tally{Runs: 2, Tried: 1500, Succeeded: 1499, Failed: 1, SlowestRun: 16 * time.Second, TotalTime: 31 * time.Second}},
		{"a killed run is unaccounted", []Run{
			{Planned: 750, Summary: Summary{Succeeded: 750}},
			{Planned: 750, Err: errTest},
		}, Tally{Runs: 2, Tried: 1500, Succeeded: 750, Unaccounted: 750, AbnormalRuns: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := TallyRuns(tc.runs)
			got.Errors = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("TallyRuns = %+v, want %+v", got, tc.want)
			}
		})
	}
}

var errTest = errors.New("killed")
