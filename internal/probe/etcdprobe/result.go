package etcdprobe

import (
	"context"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Result is what the probe verified at the end of a run.
type Result struct {
	Acknowledged int // writes acknowledged
	// MissingAcknowledged counts acknowledged writes not found (with their
	// acknowledged revision) by a final linearizable range read.
	MissingAcknowledged int
	// WatchGaps counts acknowledged revisions the watch never delivered,
	// plus watch responses that reported compaction.
	WatchGaps int
	// GapRevisions lists up to 20 acknowledged revisions the watch missed.
	GapRevisions []int64
	// WatchResumes counts watch channels that closed and were re-opened.
	WatchResumes int
	StaleReads   int // linearizable reads that missed an acknowledged write
	// DroppedProposalRetries counts writes sent again because raft dropped
	// them (IsProposalDropped); each such attempt succeeded or failed as a
	// whole, within its deadline.
	DroppedProposalRetries int
	// WorstWriteStall is the longest time between two consecutive write
	// acknowledgements (any writer), i.e. the longest stretch in which no
	// write completed while writers kept trying; with writers at R/s its
	// floor is about 1/R. WorstWriteStallEnd is when it ended.
	WorstWriteStall    time.Duration
	WorstWriteStallEnd time.Time
}

// Checks returns the verified counts for report.Run.Checks.
func (r Result) Checks() map[string]int64 {
	return map[string]int64{
		"acknowledged_writes":         int64(r.Acknowledged),
		"missing_acknowledged_writes": int64(r.MissingAcknowledged),
		"watch_gaps":                  int64(r.WatchGaps),
		"stale_reads":                 int64(r.StaleReads),
		"dropped_proposal_retries":    int64(r.DroppedProposalRetries),
	}
}

// Metrics returns the measured figures for report.Run.Metrics.
func (r Result) Metrics() map[string]float64 {
	return map[string]float64{"worst_write_stall_ms": float64(r.WorstWriteStall) / float64(time.Millisecond)}
}

// WorstStall returns the longest gap between consecutive times in acks
// (sorted by At) and when it ended; zero for fewer than two acks. Pure.
func WorstStall(acks []Ack) (time.Duration, time.Time) {
	ts := make([]time.Time, len(acks))
	for i, a := range acks {
		ts[i] = a.At
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var worst time.Duration
	var end time.Time
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d > worst {
			worst, end = d, ts[i]
		}
	}
	return worst, end
}

// WatchGaps counts the acknowledged revisions missing from watched. Pure.
func WatchGaps(acks []Ack, watched map[int64]bool) int {
	n := 0
	for _, a := range acks {
		if !watched[a.Revision] {
			n++
		}
	}
	return n
}

// Result verifies the run; call it after the writers stopped. It
// waits (up to waitFor) for the watch to deliver the last acknowledged
// revision, then reads the prefix back (linearizable, paged) and compares.
func (p *Prober) Result(ctx context.Context, waitFor time.Duration) (Result, error) {
	p.mu.Lock()
	acks := append([]Ack(nil), p.acks...)
	p.mu.Unlock()
	var maxRev int64
	for _, a := range acks {
		maxRev = max(maxRev, a.Revision)
	}
	// Not caught up when waitFor passes is what the comparison below reports.
	_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, waitFor, true, func(context.Context) (bool, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.watchMax >= maxRev, nil
	})
	found, err := p.readBack(ctx)
	if err != nil {
		return Result{}, err
	}
	r := Result{Acknowledged: len(acks)}
	for _, a := range acks {
		if found[a.Key] != a.Revision {
			r.MissingAcknowledged++
		}
	}
	p.mu.Lock()
	r.WatchGaps = WatchGaps(acks, p.watched) + p.lostWatch
	for _, a := range acks {
		if !p.watched[a.Revision] && len(r.GapRevisions) < 20 {
			r.GapRevisions = append(r.GapRevisions, a.Revision)
		}
	}
	r.WatchResumes = p.resumes
	r.StaleReads = p.staleReads
	r.DroppedProposalRetries = int(p.dropRetries.Load())
	p.mu.Unlock()
	r.WorstWriteStall, r.WorstWriteStallEnd = WorstStall(acks)
	return r, nil
}

// readBack returns key → mod revision for every key under the prefix.
func (p *Prober) readBack(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	from := p.prefix
	end := clientv3.GetPrefixRangeEnd(p.prefix)
	for {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := p.cli.Get(gctx, from, clientv3.WithRange(end), clientv3.WithLimit(1000),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("etcd probe: read back: %w", err)
		}
		for _, kv := range resp.Kvs {
			out[string(kv.Key)] = kv.ModRevision
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
