package etcd

import (
	"fmt"
	"time"
)

// CatchUpSlack is how many raft entries a learner may trail the leader's
// committed index and still count as caught up. Under live writes the two
// Status calls are a few milliseconds apart, so an exact match would rarely
// be seen; etcd itself promotes a learner whose match index is at 90% of the
// leader's (server.go readyPercentThreshold), and MemberPromote is retried
// while it answers ErrGRPCLearnerNotReady.
const CatchUpSlack = 64

// CatchUpSample is one observation of a catching-up learner.
type CatchUpSample struct {
	At             time.Time
	LeaderIndex    uint64 // leader's Status.RaftIndex (committed)
	LearnerApplied uint64 // learner's Status.RaftAppliedIndex
	LearnerDB      int64  // learner's Status.DbSize, bytes
	LeaderDB       int64  // leader's Status.DbSize, bytes
}

// CaughtUp reports whether s shows the learner within CatchUpSlack entries
// of the leader.
func CaughtUp(s CatchUpSample) bool { return s.LearnerApplied+CatchUpSlack >= s.LeaderIndex }

// CatchUpProgress renders the progress between the first and the latest
// sample as "applied 812/1024 (79%), 3.2 MiB/s, ETA 4s": the learner's
// applied index over the leader's, the learner's database growth rate, and
// the time left at the index rate seen so far ("ETA ?" before any progress).
func CatchUpProgress(first, now CatchUpSample) string {
	pct := 100.0
	if now.LeaderIndex > 0 {
		pct = 100 * float64(now.LearnerApplied) / float64(now.LeaderIndex)
	}
	dt := now.At.Sub(first.At).Seconds()
	rate, eta := 0.0, "?"
	if dt > 0 {
		rate = float64(now.LearnerDB-first.LearnerDB) / dt / (1 << 20)
		idx := float64(now.LearnerApplied) - float64(first.LearnerApplied)
		if idx > 0 && now.LeaderIndex > now.LearnerApplied {
			left := float64(now.LeaderIndex-now.LearnerApplied) / (idx / dt)
			eta = (time.Duration(left * float64(time.Second))).Round(time.Second).String()
		} else if now.LeaderIndex <= now.LearnerApplied {
			eta = "0s"
		}
	}
	return fmt.Sprintf("applied %d/%d (%.0f%%), %.1f MiB/s, ETA %s", now.LearnerApplied, now.LeaderIndex, min(pct, 100), max(rate, 0), eta)
}
