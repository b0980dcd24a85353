package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/probe/etcdbench"
	"github.com/handover-dev/handover/internal/report"
)

// The outside client of `demo etcd --benchmark`: puts at benchRate/s in
// runs of benchChunk, following the membership every second.
const (
	benchRate        = 50
	benchChunk       = 500
	benchRemovalPace = 3 * time.Second
)

// benchClient is a running benchmark loop.
type benchClient struct {
	loop  *etcdbench.Loop
	stopc chan struct{}
	done  chan error

	mu        sync.Mutex
	published []string
}

// setEndpoints records the endpoints the migration published last
// (Config.OnEndpoints: the voters, the next leaving member left out); it
// never refuses.
func (b *benchClient) setEndpoints(_ context.Context, ch etcdmig.EndpointChange) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.published = append([]string(nil), ch.Endpoints...)
	return nil
}

// startBench starts the benchmark loop. Each run starts with the endpoints
// the migration published last (c's voters before the first): the tool
// dials each connection to one of them and learns the others by its
// membership sync, so a run seeded with a member that was already stopped
// before its removal would wait for it forever (no deadline on its puts).
func startBench(ctx context.Context, bin string, c *etcdmig.Cluster, stderr io.Writer) *benchClient {
	_, _ = fmt.Fprintf(stderr, "starting etcd's benchmark put (%d/s, follows the membership) as an outside client\n", benchRate)
	b := &benchClient{
		loop: &etcdbench.Loop{
			Binary:    bin,
			Global:    []string{"--auto-sync-interval=1s", "--dial-timeout=2s", "--conns=2", "--clients=4"},
			Command:   []string{"put", "--key-size=8", "--val-size=64", "--key-space-size=1000", fmt.Sprintf("--rate=%d", benchRate)},
			Chunk:     benchChunk,
			Endpoints: nil,
			LogDir:    os.Getenv("HANDOVER_DEMO_BENCH_LOGS"),
		},
		stopc: make(chan struct{}),
		done:  make(chan error, 1),
	}
	b.loop.Endpoints = func(ctx context.Context) ([]string, error) {
		b.mu.Lock()
		eps := b.published
		b.mu.Unlock()
		if len(eps) > 0 {
			return eps, nil
		}
		return c.VoterEndpoints(ctx)
	}
	go func() { b.done <- b.loop.Run(ctx, b.stopc) }()
	return b
}

// stop lets the current run finish and returns the tally.
func (b *benchClient) stop() (etcdbench.Tally, error) {
	close(b.stopc)
	err := <-b.done
	return b.loop.Tally(), err
}

// addBenchMetrics puts the benchmark's tally into the report's metrics.
func addBenchMetrics(m map[string]float64, t etcdbench.Tally) {
	m["benchmark_put_runs"] = float64(t.Runs)
	m["benchmark_put_requests"] = float64(t.Tried)
	m["benchmark_put_succeeded"] = float64(t.Succeeded)
	m["benchmark_put_failed"] = float64(t.Failed)
	m["benchmark_put_unaccounted"] = float64(t.Unaccounted)
}

// reconcile sets the benchmark's own counts next to the report's and says
// why they differ.
func reconcile(run report.Run, t etcdbench.Tally) string {
	var b strings.Builder
	fmt.Fprintf(&b, "etcd benchmark put (outside client): %d requests in %d runs, %d failed, %d succeeded by its own summaries",
		t.Tried, t.Runs, t.Failed, t.Succeeded)
	if t.Unaccounted != 0 {
		fmt.Fprintf(&b, ", %d unaccounted (%d runs did not end normally)", t.Unaccounted, t.AbnormalRuns)
	}
	b.WriteString("\n")
	var errs []string
	for msg, n := range t.Errors {
		errs = append(errs, fmt.Sprintf("  [%d] %s", n, msg))
	}
	sort.Strings(errs)
	for _, e := range errs {
		b.WriteString(e + "\n")
	}
	fmt.Fprintf(&b, "handover's probe: %d requests, %d failed (the report above). They count different clients over different spans: "+
		"the probe's writes and linearizable reads during the migration, each attempt once, a write raft dropped retried within "+
		"the attempt; the benchmark's puts from the first run's start to the last run's end, each once, none retried.\n",
		run.Requests, run.Failures)
	return b.String()
}
