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
	// LearnerReceived is how many bytes of the leader's snapshot the
	// learner has written so far (SnapshotBytes of its data dir); 0 when
	// no snapshot is in transfer or it cannot be seen.
	LearnerReceived int64
}

// CaughtUp reports whether s shows the learner within CatchUpSlack entries
// of the leader.
func CaughtUp(s CatchUpSample) bool { return s.LearnerApplied+CatchUpSlack >= s.LeaderIndex }

// CatchUpProgress renders the progress between the first and the latest
// sample as "applied 812/1024 (79%), 3.2 MiB/s, ETA 4s": the learner's
// applied index over the leader's, the learner's database growth rate, and
// the time left at the index rate seen so far ("ETA ?" before any progress).
//
// While a snapshot is in transfer (now.LearnerReceived > 0, which etcd
// shows in neither the applied index nor the database size until the whole
// snapshot arrived) it renders the bytes instead: "snapshot 412.0/1024.0
// MiB (40%), 43.1 MiB/s, ETA 14s", the received bytes over the leader's
// database size, the receive rate since the first sample that saw the
// transfer (first.LearnerReceived may be 0), and the time left at that rate.
func CatchUpProgress(first, now CatchUpSample) string {
	if now.LearnerReceived > 0 && now.LeaderDB > 0 && !CaughtUp(now) {
		return snapshotProgress(first, now)
	}
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

func snapshotProgress(first, now CatchUpSample) string {
	const mib = 1 << 20
	total := max(now.LeaderDB, now.LearnerReceived)
	pct := 100 * float64(now.LearnerReceived) / float64(total)
	dt := now.At.Sub(first.At).Seconds()
	rate, eta := 0.0, "?"
	if got := now.LearnerReceived - first.LearnerReceived; dt > 0 && got > 0 {
		rate = float64(got) / dt
		eta = time.Duration(float64(total-now.LearnerReceived) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("snapshot %.1f/%.1f MiB (%.0f%%), %.1f MiB/s, ETA %s", float64(now.LearnerReceived)/mib, float64(total)/mib, pct, rate/mib, eta)
}
