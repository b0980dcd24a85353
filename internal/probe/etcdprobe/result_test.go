package etcdprobe

import (
	"errors"
	"testing"
	"time"
)

func TestWorstStall(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []Ack {
		var out []Ack
		for _, m := range ms {
			out = append(out, Ack{At: t0.Add(time.Duration(m) * time.Millisecond)})
		}
		return out
	}
	tests := []struct {
		name  string
		acks  []Ack
		worst time.Duration
		endMS int
	}{
		{"none", nil, 0, -1},
		{"one", at(5), 0, -1},
		{"steady", at(0, 10, 20, 30), 10 * time.Millisecond, 10},
		{"unsorted with a stall", at(30, 0, 250, 10, 20), 220 * time.Millisecond, 250},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			worst, end := WorstStall(tc.acks)
			if worst != tc.worst {
				t.Fatalf("worst = %s, want %s", worst, tc.worst)
			}
			if tc.endMS >= 0 && !end.Equal(t0.Add(time.Duration(tc.endMS)*time.Millisecond)) {
				t.Fatalf("end = %s", end)
			}
		})
	}
}

func TestWatchGaps(t *testing.T) {
	t.Parallel()
	acks := []Ack{{Revision: 5}, {Revision: 6}, {Revision: 9}}
	tests := []struct {
		name    string
		watched map[int64]bool
		want    int
	}{
		{"all seen", map[int64]bool{5: true, 6: true, 9: true}, 0},
		{"extra revisions are fine", map[int64]bool{5: true, 6: true, 7: true, 9: true}, 0},
		{"one missing", map[int64]bool{5: true, 9: true}, 1},
		{"nothing watched", map[int64]bool{}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := WatchGaps(acks, tc.watched); got != tc.want {
				t.Fatalf("WatchGaps = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestIsProposalDropped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("rpc error: code = Unknown desc = raft proposal dropped"), true},
		{errors.New("etcdserver: request timed out"), false},
		{errors.New("etcdserver: leader changed"), false},
	} {
		if got := IsProposalDropped(tc.err); got != tc.want {
			t.Errorf("IsProposalDropped(%v) = %v", tc.err, got)
		}
	}
}
