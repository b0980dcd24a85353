package etcd

import (
	"context"
	"errors"
	"fmt"
)

// ErrHashMismatch means: two members disagree on HashKV at the same revision.
var ErrHashMismatch = errors.New("members disagree on the key-value hash")

// HashResult is the agreed hash of the key space at Revision.
type HashResult struct {
	Revision int64
	Hash     uint32
	Members  int
}

// healthErr explains why s is not Healthy.
func healthErr(s MemberStatus) error {
	switch {
	case s.Err != nil:
		return s.Err
	case s.Status == nil:
		return errors.New("no status")
	default:
		return fmt.Errorf("status errors: %v", s.Status.Errors)
	}
}

// VerifyHash checks that every member is healthy, has applied revision r
// (the lowest current revision among them, so no member is asked about its
// future) and that the members HashedMembers picks report the same
// HashKV(r) (etcd API: Maintenance.HashKV; a hash over the MVCC key space
// up to r, comparable across members), asked one member at a time.
//
// HashKV reads the whole key space under the member's backend read lock,
// which holds back that member's commits for as long as it takes (seconds
// at 1 GiB); on the leader that stalls every write of the cluster. So the
// leader is left out whenever at least two followers can be compared: the
// followers' apply lags meanwhile, but the leader commits with their raft
// acknowledgements (WAL appends), which HashKV does not block. Under
// live writes the members' current revisions differ by the writes in
// flight, so "same revision" means "all reached r". It returns an error
// wrapping ErrHashMismatch on disagreement (data divergence), or a plain
// error when a member cannot answer (retry).
func VerifyHash(ctx context.Context, c *Cluster, ms []Member) (HashResult, error) {
	return verifyHash(ctx, c, ms, nil)
}

// verifyHash is VerifyHash calling around(m) before each member's HashKV
// (nil = nothing): the verify step moves clients off that member meanwhile.
func verifyHash(ctx context.Context, c *Cluster, ms []Member, around func(context.Context, Member) error) (HashResult, error) {
	sts := c.Statuses(ctx, ms)
	var rev int64
	for _, s := range sts {
		if !s.Healthy() {
			return HashResult{}, fmt.Errorf("member %s not healthy: %w", memberLabel(s.Member), healthErr(s))
		}
		if r := s.Status.Header.Revision; rev == 0 || r < rev {
			rev = r
		}
	}
	var first *MemberStatus
	var hash uint32
	leader, _ := Leader(sts)
	sts = HashedMembers(sts, leader)
	for i, s := range sts {
		if around != nil {
			if err := around(ctx, s.Member); err != nil {
				return HashResult{}, err
			}
		}
		ctx, cancel := context.WithTimeout(ctx, 4*c.timeout) // a full scan: seconds per GiB
		resp, err := c.client.HashKV(ctx, s.ClientURLs[0], rev)
		cancel()
		if err != nil {
			return HashResult{}, fmt.Errorf("member %s HashKV(%d): %w", memberLabel(s.Member), rev, err)
		}
		if first == nil {
			first, hash = &sts[i], resp.Hash
			continue
		}
		if resp.Hash != hash {
			return HashResult{}, fmt.Errorf("%w at revision %d: %s has %08x, %s has %08x",
				ErrHashMismatch, rev, memberLabel(first.Member), hash, memberLabel(s.Member), resp.Hash)
		}
	}
	return HashResult{Revision: rev, Hash: hash, Members: len(sts)}, nil
}

// HashedMembers returns the members whose HashKV VerifyHash compares: every
// member of sts except the leader when at least two others remain (the
// leader keeps serving writes), else all of sts. Pure.
func HashedMembers(sts []MemberStatus, leader uint64) []MemberStatus {
	var followers []MemberStatus
	for _, s := range sts {
		if s.ID != leader {
			followers = append(followers, s)
		}
	}
	if leader == 0 || len(followers) < 2 {
		return sts
	}
	return followers
}
