package etcd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/plan"
)

// BenchmarkMigrate measures a 3 → 3 migration (embedded members, no probes)
// against the database size. ns/op is the plan's wall time; catchup-MiB/s is
// the learners' mean catch-up throughput. Not run in CI:
//
//	go test ./internal/migration/etcd -run '^$' -bench BenchmarkMigrate -benchtime 1x -timeout 60m
func BenchmarkMigrate(b *testing.B) {
	for _, mib := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("db=%dMiB", mib), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				c, sources, cleanup := benchCluster(b, mib)
				targets := benchTargets(b)
				dst := &Embedded{BaseDir: b.TempDir()}
				stats := &Stats{}
				p, err := NewPlan(Config{Cluster: c, Sources: sources, Targets: targets, Provisioner: dst,
					DBSize: int64(mib) << 20, Stats: stats, DrainDelay: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				st, err := (&plan.Runner{}).Run(context.Background(), p)
				b.StopTimer()
				if err != nil || st.Outcome != plan.OutcomeSucceeded {
					b.Fatalf("outcome %v: %v", st, err)
				}
				var bytes int64
				var secs float64
				for _, cu := range stats.CatchUps() {
					bytes += cu.Bytes
					secs += cu.Duration.Seconds()
				}
				b.ReportMetric(float64(bytes)/(1<<20)/secs, "catchup-MiB/s")
				dst.Close()
				cleanup()
				b.StartTimer()
			}
		})
	}
}

func benchCluster(b *testing.B, mib int) (*Cluster, []Member, func()) {
	ctx := context.Background()
	src := &Embedded{BaseDir: b.TempDir()}
	ms, err := src.StartCluster(ctx, "bench", []string{"s1", "s2", "s3"})
	if err != nil {
		b.Fatal(err)
	}
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.ClientURL)
	}
	c, err := Connect(ctx, eps, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 10
	n := mib * (1 << 20) / size
	val := strings.Repeat("b", size)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if _, err := c.Client().Put(pctx, fmt.Sprintf("bench/%08d", i), val); err != nil {
					b.Error(err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	sources, err := c.Members(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return c, sources, func() { _ = c.Close(); src.Close() }
}

func benchTargets(b *testing.B) []Target {
	urls, err := FreeLoopbackURLs(6)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]Target, 3)
	for i := range out {
		out[i] = Target{Name: fmt.Sprintf("t%d", i+1), PeerURL: urls[2*i], ClientURL: urls[2*i+1]}
	}
	return out
}
