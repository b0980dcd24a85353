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
		{"snapshot in transfer", CatchUpSample{At: t0.Add(4 * time.Second), LeaderIndex: 1024, LeaderDB: 1024 << 20, LearnerReceived: 256 << 20},
			"snapshot 256.0/1024.0 MiB (25%), 64.0 MiB/s, ETA 12s", false},
		{"snapshot just seen", CatchUpSample{At: t0, LeaderIndex: 1024, LeaderDB: 1024 << 20, LearnerReceived: 1 << 20},
			"snapshot 1.0/1024.0 MiB (0%), 0.0 MiB/s, ETA ?", false},
		{"snapshot larger than the leader sample", CatchUpSample{At: t0.Add(time.Second), LeaderIndex: 1024, LeaderDB: 10 << 20, LearnerReceived: 12 << 20},
			"snapshot 12.0/12.0 MiB (100%), 12.0 MiB/s, ETA 0s", false},
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
