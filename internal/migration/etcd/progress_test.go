package etcd

import (
	"testing"
	"time"
)

func TestCatchUpProgress(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := CatchUpSample{At: t0, LeaderIndex: 1024, LearnerApplied: 0}
	tests := []struct {
		name   string
		now    CatchUpSample
		want   string
		caught bool
	}{
		{"no time yet", first, "applied 0/1024 (0%), 0.0 MiB/s, ETA ?", false},
		{"midway", CatchUpSample{At: t0.Add(4 * time.Second), LeaderIndex: 1024, LearnerApplied: 812, LearnerDB: 13 << 20 / 1}, "applied 812/1024 (79%), 3.2 MiB/s, ETA 1s", false},
		{"within slack", CatchUpSample{At: t0.Add(5 * time.Second), LeaderIndex: 1024, LearnerApplied: 1024 - CatchUpSlack, LearnerDB: 16 << 20}, "applied 960/1024 (94%), 3.2 MiB/s, ETA 0s", true},
		{"ahead of a stale leader sample", CatchUpSample{At: t0.Add(5 * time.Second), LeaderIndex: 1000, LearnerApplied: 1010}, "applied 1010/1000 (100%), 0.0 MiB/s, ETA 0s", true},
		{"stalled", CatchUpSample{At: t0.Add(5 * time.Second), LeaderIndex: 2048, LearnerApplied: 0}, "applied 0/2048 (0%), 0.0 MiB/s, ETA ?", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := CatchUpProgress(first, tc.now); got != tc.want {
				t.Errorf("progress = %q, want %q", got, tc.want)
			}
			if got := CaughtUp(tc.now); got != tc.caught {
				t.Errorf("CaughtUp = %v, want %v", got, tc.caught)
			}
		})
	}
}
