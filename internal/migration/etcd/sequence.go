package etcd

import (
	"fmt"
	"strings"
)

// Op is one membership change.
type Op string

// The membership changes a migration makes.
const (
	OpAddLearner Op = "add-learner" // MemberAddAsLearner (voters unchanged)
	OpPromote    Op = "promote"     // MemberPromote (voters + 1)
	OpRemove     Op = "remove"      // MemberRemove of a source voter (voters − 1)
)

// Stage is one membership change and the membership it leaves behind.
type Stage struct {
	Op     Op
	Member string // member name
	// SourceVoters and TargetVoters count the voters after the change;
	// Learners counts learners after it.
	SourceVoters, TargetVoters, Learners int
	Quorum                               int  // Quorum(SourceVoters+TargetVoters)
	FaultTolerance                       int  // FaultTolerance(SourceVoters+TargetVoters)
	Majority                             Side // MajoritySide(SourceVoters, TargetVoters)
}

// Voters returns SourceVoters + TargetVoters.
func (s Stage) Voters() int { return s.SourceVoters + s.TargetVoters }

// String renders the stage for --plan output, e.g.
// "promote t1          → 3+1 voters, quorum 3, tolerates 1, source side keeps quorum".
func (s Stage) String() string {
	side := "no side alone keeps quorum (crossover)"
	switch s.Majority {
	case SideSource:
		side = "source side keeps quorum"
	case SideTarget:
		side = "target side keeps quorum"
	}
	learners := ""
	if s.Learners > 0 {
		learners = fmt.Sprintf(" + %d learner", s.Learners)
	}
	return fmt.Sprintf("%-11s %-12s → %d+%d voters%s, quorum %d, tolerates %d, %s",
		s.Op, s.Member, s.SourceVoters, s.TargetVoters, learners, s.Quorum, s.FaultTolerance, side)
}

// Sequence returns the membership changes that move a cluster whose voters
// are sources onto targets: for each target in order add-learner then
// promote, then every source removed in order. Sources and targets must be
// non-empty, and all names unique and non-empty; otherwise Sequence returns
// an error wrapping ErrInvalidTarget and no stages.
//
// What "never loses quorum on either side" means here. Let s and t be the
// source and target voters of a membership. If the link between the two
// groups breaks, the group holding Quorum(s+t) voters keeps serving; the
// other stops. A group holds quorum iff it is strictly larger than the other
// (s > t or t > s). Every change moves s−t by exactly one, so going from
// "source side keeps quorum" (s > t) to "target side keeps quorum" (t > s)
// must pass through s == t: one crossover membership in which neither group
// alone has quorum is unavoidable, whatever the order. The sequence below
// (GEP-0039: add all targets, then remove sources) guarantees:
//
//  1. at most one learner at a time (etcd's default --max-learners=1), and a
//     learner never counts toward quorum, so adding one is always safe;
//  2. every membership except exactly one — the crossover, s == t — has a
//     majority side (SideSource before it, SideTarget after it);
//  3. the crossover is entered by an addition when len(sources) ≤
//     len(targets) and by a removal otherwise, so it has k+k voters with
//     k = min(|S|,|T|), the most any crossover can have for these sizes, and
//     hence the highest fault tolerance, k−1 (3→3 crosses at 3+3: quorum 4,
//     tolerates 2; removing a source first would cross at 2+2: quorum 3,
//     tolerates 1);
//  4. removals start only once every target is a voter, so the voters never
//     drop below min(|S|,|T|) and fault tolerance never falls below that of
//     the smaller of the source and the target cluster;
//  5. while the link holds, every change keeps quorum: an addition or
//     promotion never reduces the healthy voters, and each removal is gated
//     at run time by CanRemove.
//
// The crossover is the membership in which a broken old↔new link stops the
// cluster (Gardener's "6-member risk"). In the plan it lasts from the last
// promotion to the first removal — only move-leader and a HashKV check run
// in between — and for |S| > |T| it is a single removal step.
//
// The table tests (sequence_test.go) check 2–4 for 1→1, 3→3, 5→5, 3→5 and
// 5→3. 1→1 has no fault tolerance at its crossover (2 voters, quorum 2);
// that is inherent to a single-member cluster.
func Sequence(sources, targets []string) ([]Stage, error) {
	if len(sources) == 0 {
		return nil, fmt.Errorf("%w: no source members", ErrInvalidTarget)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: no target members", ErrInvalidTarget)
	}
	seen := map[string]string{}
	for i, group := range [][]string{sources, targets} {
		kind := [...]string{"source", "target"}[i]
		for _, n := range group {
			if strings.TrimSpace(n) == "" {
				return nil, fmt.Errorf("%w: %s member with an empty name", ErrInvalidTarget, kind)
			}
			if prev, dup := seen[n]; dup {
				return nil, fmt.Errorf("%w: member name %q is used by a %s and a %s member", ErrInvalidTarget, n, prev, kind)
			}
			seen[n] = kind
		}
	}
	s, t := len(sources), 0
	var out []Stage
	emit := func(op Op, name string, learners int) {
		n := s + t
		out = append(out, Stage{Op: op, Member: name, SourceVoters: s, TargetVoters: t, Learners: learners,
			Quorum: Quorum(n), FaultTolerance: FaultTolerance(n), Majority: MajoritySide(s, t)})
	}
	for _, name := range targets {
		emit(OpAddLearner, name, 1)
		t++
		emit(OpPromote, name, 0)
	}
	for _, name := range sources {
		s--
		emit(OpRemove, name, 0)
	}
	return out, nil
}

// Crossovers counts the voting memberships of seq with no majority side.
// Only stages that change the voters count (an add-learner stage leaves the
// membership as it was). A valid migration sequence has exactly one.
func Crossovers(seq []Stage) int {
	n := 0
	for _, st := range seq {
		if st.Op != OpAddLearner && st.Voters() > 0 && st.Majority == SideNone {
			n++
		}
	}
	return n
}
