package etcd

import "fmt"

// Quorum returns the number of voters a Raft cluster of n voters needs to
// commit (⌊n/2⌋+1; etcd docs: FAQ "What is failure tolerance?"). Quorum(0)
// is 0 (an empty membership has nothing to commit); negative n gives 0.
func Quorum(n int) int {
	if n <= 0 {
		return 0
	}
	return n/2 + 1
}

// FaultTolerance returns how many of n voters may fail while the rest keep
// quorum: n − Quorum(n). FaultTolerance(1) = 0, (3) = 1, (4) = 1, (6) = 2.
func FaultTolerance(n int) int {
	if n <= 0 {
		return 0
	}
	return n - Quorum(n)
}

// Side names the half of a membership that keeps quorum when the link
// between the source and the target members breaks.
type Side string

// The sides of a membership.
const (
	SideSource Side = "source"
	SideTarget Side = "target"
	// SideNone means neither half alone has quorum (source voters == target
	// voters, or both halves too small).
	SideNone Side = "none"
)

// MajoritySide returns which half of a membership of src source voters and
// tgt target voters keeps quorum when the two halves cannot talk to each
// other: the half with at least Quorum(src+tgt) voters, else SideNone.
func MajoritySide(src, tgt int) Side {
	q := Quorum(src + tgt)
	switch {
	case src+tgt == 0:
		return SideNone
	case src >= q:
		return SideSource
	case tgt >= q:
		return SideTarget
	default:
		return SideNone
	}
}

// VoterHealth is one voter as a safety rule sees it.
type VoterHealth struct {
	ID      uint64
	Healthy bool
	Leader  bool
}

// CanRemove reports whether voter id may be removed from voters now: it must
// be a voter, not the leader (move leadership first), and the healthy voters
// that remain must still reach Quorum of the smaller membership, so the
// cluster keeps committing while the removal is applied (the
// IsReadyToRemoveVotingMember rule of etcd's server). It returns "" when the
// removal is safe, else the reason; it never removes the last voter.
func CanRemove(voters []VoterHealth, id uint64) string {
	found := false
	healthyAfter := 0
	for _, v := range voters {
		if v.ID == id {
			found = true
			if v.Leader {
				return "member is the leader; move leadership first"
			}
			continue
		}
		if v.Healthy {
			healthyAfter++
		}
	}
	if !found {
		return "member is not a voter"
	}
	n := len(voters) - 1
	if n == 0 {
		return "member is the last voter"
	}
	if healthyAfter < Quorum(n) {
		return fmt.Sprintf("%d healthy voters would remain, quorum of %d is %d", healthyAfter, n, Quorum(n))
	}
	return ""
}

// CanPromote reports whether a caught-up learner may become a voter: after
// the promotion the healthy voters (counting the learner, which must be
// healthy) must reach Quorum of the larger membership. "" = safe.
func CanPromote(voters []VoterHealth, learnerHealthy bool) string {
	if !learnerHealthy {
		return "learner is not healthy"
	}
	healthy := 1
	for _, v := range voters {
		if v.Healthy {
			healthy++
		}
	}
	n := len(voters) + 1
	if healthy < Quorum(n) {
		return fmt.Sprintf("%d healthy voters after promotion, quorum of %d is %d", healthy, n, Quorum(n))
	}
	return ""
}
