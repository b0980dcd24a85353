package etcd

import (
	"errors"
	"fmt"
	"testing"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

func TestSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, tgt int
		// crossoverVoters is the voter count of the one membership with no
		// majority side; minVoters the fewest voters of any stage.
		crossoverVoters, minVoters, minTolerance int
		maxVoters                                int
	}{
		{src: 1, tgt: 1, crossoverVoters: 2, minVoters: 1, minTolerance: 0, maxVoters: 2},
		{src: 3, tgt: 3, crossoverVoters: 6, minVoters: 3, minTolerance: 1, maxVoters: 6},
		{src: 5, tgt: 5, crossoverVoters: 10, minVoters: 5, minTolerance: 2, maxVoters: 10},
		{src: 3, tgt: 5, crossoverVoters: 6, minVoters: 3, minTolerance: 1, maxVoters: 8},
		{src: 5, tgt: 3, crossoverVoters: 6, minVoters: 3, minTolerance: 1, maxVoters: 8},
		{src: 1, tgt: 3, crossoverVoters: 2, minVoters: 1, minTolerance: 0, maxVoters: 4},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d-to-%d", tc.src, tc.tgt), func(t *testing.T) {
			t.Parallel()
			src, tgt := names("s", tc.src), names("t", tc.tgt)
			seq, err := Sequence(src, tgt)
			if err != nil {
				t.Fatal(err)
			}
			if want := 2*tc.tgt + tc.src; len(seq) != want {
				t.Fatalf("len = %d, want %d", len(seq), want)
			}
			if got := Crossovers(seq); got != 1 {
				t.Fatalf("crossovers = %d, want exactly 1:\n%s", got, render(seq))
			}
			sawCross, removed := false, 0
			minV, minFT, maxV := tc.src, FaultTolerance(tc.src), tc.src
			for i, st := range seq {
				if st.Learners > 1 {
					t.Errorf("stage %d: %d learners, the default --max-learners is 1", i, st.Learners)
				}
				if st.Quorum != Quorum(st.Voters()) || st.Majority != MajoritySide(st.SourceVoters, st.TargetVoters) {
					t.Errorf("stage %d: inconsistent arithmetic %+v", i, st)
				}
				switch st.Majority {
				case SideNone:
					sawCross = true
					if st.Voters() != tc.crossoverVoters {
						t.Errorf("stage %d: crossover at %d voters, want %d", i, st.Voters(), tc.crossoverVoters)
					}
				case SideSource:
					if sawCross {
						t.Errorf("stage %d: source majority after the crossover", i)
					}
				case SideTarget:
					if !sawCross {
						t.Errorf("stage %d: target majority before the crossover", i)
					}
				}
				if st.Op == OpRemove {
					if removed == 0 && st.TargetVoters != tc.tgt {
						t.Errorf("stage %d: first removal with %d/%d targets voting", i, st.TargetVoters, tc.tgt)
					}
					removed++
				}
				minV, maxV = min(minV, st.Voters()), max(maxV, st.Voters())
				minFT = min(minFT, st.FaultTolerance)
			}
			if minV != tc.minVoters || maxV != tc.maxVoters || minFT != tc.minTolerance {
				t.Errorf("voters min %d max %d, tolerance min %d; want %d %d %d",
					minV, maxV, minFT, tc.minVoters, tc.maxVoters, tc.minTolerance)
			}
			last := seq[len(seq)-1]
			if last.SourceVoters != 0 || last.TargetVoters != tc.tgt || removed != tc.src {
				t.Errorf("final membership %d+%d after %d removals", last.SourceVoters, last.TargetVoters, removed)
			}
		})
	}
}

func TestSequenceRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		src, tgt []string
	}{
		{"no sources", nil, []string{"t1"}},
		{"no targets", []string{"s1"}, nil},
		{"duplicate target", []string{"s1"}, []string{"t1", "t1"}},
		{"target named like a source", []string{"s1", "s2"}, []string{"s2"}},
		{"empty name", []string{"s1"}, []string{" "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seq, err := Sequence(tc.src, tc.tgt)
			if !errors.Is(err, ErrInvalidTarget) || seq != nil {
				t.Fatalf("Sequence = %v, %v; want ErrInvalidTarget", seq, err)
			}
		})
	}
}

func TestQuorum(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, q, ft int }{
		{-1, 0, 0}, {0, 0, 0}, {1, 1, 0}, {2, 2, 0}, {3, 2, 1}, {4, 3, 1}, {5, 3, 2}, {6, 4, 2}, {7, 4, 3}, {10, 6, 4},
	} {
		if Quorum(tc.n) != tc.q || FaultTolerance(tc.n) != tc.ft {
			t.Errorf("n=%d: quorum %d tolerance %d, want %d %d", tc.n, Quorum(tc.n), FaultTolerance(tc.n), tc.q, tc.ft)
		}
	}
}

func TestMajoritySide(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s, t int
		want Side
	}{
		{3, 0, SideSource}, {3, 2, SideSource}, {3, 3, SideNone}, {2, 2, SideNone}, {2, 3, SideTarget}, {0, 3, SideTarget}, {1, 1, SideNone}, {0, 0, SideNone},
	} {
		if got := MajoritySide(tc.s, tc.t); got != tc.want {
			t.Errorf("MajoritySide(%d,%d) = %s, want %s", tc.s, tc.t, got, tc.want)
		}
	}
}

func TestCanRemove(t *testing.T) {
	t.Parallel()
	h := func(id uint64, healthy, leader bool) VoterHealth {
		return VoterHealth{ID: id, Healthy: healthy, Leader: leader}
	}
	tests := []struct {
		name   string
		voters []VoterHealth
		id     uint64
		ok     bool
	}{
		{"healthy 6, remove follower", []VoterHealth{h(1, true, false), h(2, true, false), h(3, true, false), h(4, true, true), h(5, true, false), h(6, true, false)}, 1, true},
		{"leader refused", []VoterHealth{h(1, true, true), h(2, true, false), h(3, true, false)}, 1, false},
		{"not a voter", []VoterHealth{h(1, true, true), h(2, true, false)}, 9, false},
		{"last voter", []VoterHealth{h(1, true, false)}, 1, false},
		// 6 voters, 2 unhealthy (not the removed one): 3 healthy remain of 5, quorum 3 → ok.
		{"two down of six", []VoterHealth{h(1, true, false), h(2, false, false), h(3, false, false), h(4, true, true), h(5, true, false), h(6, true, false)}, 1, true},
		// 5 voters, 2 unhealthy: 2 healthy remain of 4, quorum 3 → refuse.
		{"two down of five", []VoterHealth{h(1, true, false), h(2, false, false), h(3, false, false), h(4, true, true), h(5, true, false)}, 1, false},
		// removing an unhealthy member is fine when the rest keep quorum.
		{"remove the dead one", []VoterHealth{h(1, false, false), h(2, true, true), h(3, true, false)}, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reason := CanRemove(tc.voters, tc.id)
			if (reason == "") != tc.ok {
				t.Fatalf("CanRemove = %q, want ok=%v", reason, tc.ok)
			}
		})
	}
}

func TestCanPromote(t *testing.T) {
	t.Parallel()
	v := []VoterHealth{{ID: 1, Healthy: true}, {ID: 2, Healthy: true}, {ID: 3, Healthy: false}}
	if r := CanPromote(v, true); r != "" {
		t.Errorf("3 healthy of 4: %q", r)
	}
	if r := CanPromote(v, false); r == "" {
		t.Error("unhealthy learner promoted")
	}
	v2 := []VoterHealth{{ID: 1, Healthy: true}, {ID: 2, Healthy: false}, {ID: 3, Healthy: false}}
	if r := CanPromote(v2, true); r == "" {
		t.Error("2 healthy of 4 (quorum 3) promoted")
	}
}

func render(seq []Stage) string {
	out := ""
	for _, s := range seq {
		out += s.String() + "\n"
	}
	return out
}
