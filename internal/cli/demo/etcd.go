package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/migration/etcd/session"
	"github.com/handover-dev/handover/internal/probe/etcdbench"
	"github.com/handover-dev/handover/internal/report"
)

const etcdLong = `Migrate a loaded etcd cluster onto new members while clients write, read and
watch, and show that nothing was lost: the etcd half of a live control-plane
migration (Gardener GEP-0039), on 127.0.0.1.

The demo starts --members embedded etcd members (s1…), loads them with --data
MiB of keys, measures a raw loopback TCP copy of the same byte count (the
floor for a learner's catch-up on this machine), then runs the same plan as
"handover etcd migrate": for each target t1… a learner is added, started,
caught up (progress bar), promoted; leadership moves to a target; HashKV is
compared across members; the sources are removed one at a time.

Probes run throughout: writers Put unique keys (every acknowledged one is
recorded), linearizable readers Get the latest acknowledged key, and a
watcher follows the probe's prefix. At the end the demo reads every
acknowledged key back and checks the watch saw every acknowledged revision.
The report names failed requests, the longest outage, the worst write stall
(the longest time without an acknowledged write), p99 latency, and the
catch-up throughput next to the loopback copy throughput.

With --benchmark (default $HANDOVER_ETCD_BENCHMARK), etcd's own benchmark
tool runs "benchmark put" at 50/s as an outside client that follows the
membership (--auto-sync-interval 1s), in back-to-back runs of 500 puts so
each prints its own summary. The demo then stops each source gracefully
before its removal, paces the removals 3 s apart and pauses the tool
around the leadership transfer (SIGSTOP/SIGCONT, standing in for a proxy
that stops forwarding), and prints the tool's requests, failures and
successes next to the probe's.

The demo exits 1 unless the migration succeeded with 0 failed requests, 0
missing acknowledged writes and 0 watch gaps (and, with --benchmark, 0
failed or unaccounted benchmark puts). Everything lives in a temporary
directory that is removed at the end. Progress goes to stderr, the report to
stdout.`

const etcdExample = `  # the default: 3 → 3 members, 64 MiB, report and timeline
  handover demo etcd --json out/etcd.json --svg out/etcd.svg

  # a quick run
  handover demo etcd --data 8

  # a bigger database, 5 members
  handover demo etcd --data 256 --members 5`

// etcdOptions are the flags of `handover demo etcd`.
type etcdOptions struct {
	Benchmark string
	DataMiB   int
	NoBackup  bool
	Members   int
	ProbeRate float64
	JSON, SVG string
	Clock     clock.Clock
}

func newEtcdCommand() *cobra.Command {
	o := &etcdOptions{Clock: clock.RealClock{}}
	cmd := &cobra.Command{
		Use:     "etcd",
		Short:   "Migrate a loaded 3-member etcd cluster to 3 new members under live traffic",
		Long:    etcdLong,
		Example: etcdExample,
		Args:    cobra.NoArgs,
		RunE: isolated(func(cmd *cobra.Command, _ []string) error {
			return runEtcd(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		}),
	}
	f := cmd.Flags()
	o.DataMiB = 64
	f.Var(mibValue{&o.DataMiB}, "data", "data loaded into the source cluster before migrating, in MiB or with a unit (64, 512MiB, 1GiB)")
	f.BoolVar(&o.NoBackup, "no-backup-compare", false, "skip the backup/restore of the same data measured after the migration")
	f.IntVar(&o.Members, "members", 3, "number of source members and of target members")
	f.Float64Var(&o.ProbeRate, "probe-rate", 100, "probe writes and reads per second each")
	f.StringVar(&o.JSON, "json", "", "write the report as JSON (handover.report/v1) to this file")
	f.StringVar(&o.SVG, "svg", "", "write the report's timeline as SVG to this file")
	f.StringVar(&o.Benchmark, "benchmark", os.Getenv("HANDOVER_ETCD_BENCHMARK"), "etcd's own benchmark tool (make etcd-benchmark; default $HANDOVER_ETCD_BENCHMARK): run `benchmark put` as an outside client that follows the membership and report its own summary next to the probe's (\"\" = none)")
	return cmd
}

// demoValueSize is the size of each loaded value (64 KiB, well under etcd's
// 1.5 MiB request limit).
const demoValueSize = 64 << 10

func runEtcd(ctx context.Context, o *etcdOptions, stdout, stderr io.Writer) error {
	if o.DataMiB < 0 || o.Members < 1 || o.Members > 7 {
		return fmt.Errorf("flags --data %d / --members %d: want --data ≥ 0 and 1 ≤ --members ≤ 7", o.DataMiB, o.Members)
	}
	dir, err := os.MkdirTemp("", "handover-demo-etcd-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	src := &etcdmig.Embedded{BaseDir: filepath.Join(dir, "src")}
	defer src.Close()
	dst := &etcdmig.Embedded{BaseDir: filepath.Join(dir, "dst")}
	defer dst.Close()
	var names []string
	for i := range o.Members {
		names = append(names, fmt.Sprintf("s%d", i+1))
	}
	_, _ = fmt.Fprintf(stderr, "starting %d source members\n", o.Members)
	ms, err := src.StartCluster(ctx, "handover-demo", names)
	if err != nil {
		return err
	}
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.ClientURL)
	}
	c, err := etcdmig.Connect(ctx, eps, nil, o.Clock)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if err := loadData(ctx, c, o.DataMiB, stderr, o.Clock); err != nil {
		return err
	}
	st, _, err := c.Status(ctx, eps[0])
	if err != nil {
		return err
	}
	copyRate, err := loopbackCopy(st.DbSize, o.Clock)
	if err != nil {
		return fmt.Errorf("loopback copy: %w", err)
	}
	_, _ = fmt.Fprintf(stderr, "database %.1f MiB; raw loopback TCP copy of the same bytes: %.0f MiB/s\n", mib(st.DbSize), copyRate)

	sources, err := c.Members(ctx)
	if err != nil {
		return err
	}
	urls, err := etcdmig.FreeLoopbackURLs(2 * o.Members)
	if err != nil {
		return err
	}
	var targets []etcdmig.Target
	for i := range o.Members {
		targets = append(targets, etcdmig.Target{Name: fmt.Sprintf("t%d", i+1), PeerURL: urls[2*i], ClientURL: urls[2*i+1]})
	}
	mig := etcdmig.Config{Name: "etcd-migration", Cluster: c, Sources: sources, Targets: targets,
		Provisioner: dst, DBSize: st.DbSize, DrainDelay: 500 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		MetricsURL: etcdmig.MetricsURLs(src, dst)}
	var bench *benchClient
	if o.Benchmark != "" {
		bench = startBench(ctx, o.Benchmark, c, stderr)
		// The benchmark follows the membership by itself: stop each source
		// gracefully before its removal, pace the removals for its 1 s
		// membership sync, and pause it around the leadership transfer.
		mig.StopSource = func(ctx context.Context, m etcdmig.Member) error { return src.Shutdown(ctx, m.Name) }
		mig.RemovalPace, mig.Hold, mig.OnEndpoints = benchRemovalPace, bench.loop, bench.setEndpoints
	}
	out, err := session.Run(ctx, session.Options{
		Migration: mig, ProbeEndpoints: eps, ProbeRate: o.ProbeRate, Log: stderr, Clock: o.Clock, RollbackOnCancel: true,
	})
	var tally *etcdbench.Tally
	if bench != nil {
		t, berr := bench.stop()
		if err == nil && berr != nil {
			err = fmt.Errorf("flag --benchmark: %w", berr)
		}
		tally = &t
	}
	if err != nil {
		return err
	}
	run := session.ReportRun("etcd-migration", out)
	if tally != nil {
		addBenchMetrics(run.Metrics, *tally)
	}
	run.Metrics["loopback_copy_mib_per_s"] = copyRate
	run.Metrics["db_mib"] = mib(st.DbSize)
	run.Metrics["migration_wall_s"] = out.Wall.Seconds()
	var backup *backupRestore
	if !o.NoBackup && string(out.State.Outcome) == "Succeeded" {
		_, _ = fmt.Fprintf(stderr, "measuring backup/restore of the same data: snapshot save, restore into %d members, start\n", o.Members)
		bk := &etcdmig.Embedded{BaseDir: filepath.Join(dir, "backup")}
		b, err := measureBackupRestore(ctx, targets[0].ClientURL, dir, o.Members, bk, o.Clock)
		bk.Close()
		if err != nil {
			return fmt.Errorf("backup/restore: %w", err)
		}
		backup = &b
		run.Metrics["backup_save_s"], run.Metrics["backup_restore_s"] = b.Save.Seconds(), b.Restore.Seconds()
		run.Metrics["backup_start_s"], run.Metrics["backup_restore_wall_s"] = b.Start.Seconds(), b.Wall().Seconds()
	}
	rep := report.New(run)
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(stdout, "\nworst write stall %.0f ms (%s); catch-up %.1f MiB/s per learner vs raw loopback copy %.0f MiB/s; "+
		"acknowledged writes %d, missing %d, watch gaps %d\n",
		run.Metrics["worst_write_stall_ms"], stallPhase(out.WorstStallPhase), run.Metrics["catchup_mib_per_s"], copyRate,
		run.Checks["acknowledged_writes"], run.Checks["missing_acknowledged_writes"], run.Checks["watch_gaps"])
	if backup != nil {
		_, _ = fmt.Fprintf(stdout, "live migration of %.1f MiB: %.1f s wall, %d failed requests; backup/restore of the same data: %.1f s "+
			"(snapshot save %.1f s + restore %d members %.1f s + start %.1f s), all of it without a writable cluster\n",
			mib(st.DbSize), out.Wall.Seconds(), run.Failures, backup.Wall().Seconds(), backup.Save.Seconds(), o.Members,
			backup.Restore.Seconds(), backup.Start.Seconds())
	}
	for _, t := range out.Transfers {
		_, _ = fmt.Fprintf(stdout, "leadership transfer %s\n", t)
	}
	if tally != nil {
		_, _ = fmt.Fprint(stdout, reconcile(run, *tally))
	}
	if err := session.WriteReportFiles(rep, o.JSON, o.SVG); err != nil {
		return err
	}
	return verdict(out, run)
}

// verdict is the demo's pass/fail: the plan succeeded, no request failed,
// nothing acknowledged is missing, the watch has no gap.
func verdict(out *session.Outcome, run report.Run) error {
	var bad []string
	if string(out.State.Outcome) != "Succeeded" {
		bad = append(bad, fmt.Sprintf("migration %s: %s", out.State.Outcome, out.State.Reason))
	}
	if run.Failures != 0 {
		bad = append(bad, fmt.Sprintf("%d failed requests", run.Failures))
	}
	for _, k := range []string{"missing_acknowledged_writes", "watch_gaps", "stale_reads"} {
		if run.Checks[k] != 0 {
			bad = append(bad, fmt.Sprintf("%s = %d", k, run.Checks[k]))
		}
	}
	for _, k := range []string{"benchmark_put_failed", "benchmark_put_unaccounted"} {
		if run.Metrics[k] != 0 {
			bad = append(bad, fmt.Sprintf("%s = %.0f", k, run.Metrics[k]))
		}
	}
	if len(bad) > 0 {
		return errors.New("demo etcd: " + strings.Join(bad, "; "))
	}
	return nil
}

func stallPhase(p string) string {
	if p == "" {
		return "phase unknown"
	}
	return "began in " + p
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// loadData writes dataMiB MiB as 64 KiB values with 8 concurrent writers.
func loadData(ctx context.Context, c *etcdmig.Cluster, dataMiB int, stderr io.Writer, clk clock.PassiveClock) error {
	n := dataMiB * (1 << 20) / demoValueSize
	if n == 0 {
		return nil
	}
	_, _ = fmt.Fprintf(stderr, "loading %d MiB (%d keys of 64 KiB)\n", dataMiB, n)
	start := clk.Now()
	val := strings.Repeat("d", demoValueSize)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := c.Client().Put(pctx, fmt.Sprintf("demo-data/%08d", i), val)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("load key %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	d := clk.Since(start)
	_, _ = fmt.Fprintf(stderr, "loaded in %s (%.1f MiB/s)\n", d.Round(time.Millisecond), float64(dataMiB)/d.Seconds())
	return nil
}

// loopbackCopy copies n bytes (at least 1 MiB) over a fresh loopback TCP
// connection and returns the throughput in MiB/s: the raw transport floor a
// learner's catch-up is compared with.
func loopbackCopy(n int64, clk clock.PassiveClock) (float64, error) {
	n = max(n, 1<<20)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	got := make(chan int64, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer func() { _ = conn.Close() }()
		m, _ := io.Copy(io.Discard, conn)
		got <- m
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	start := clk.Now()
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := conn.Write(buf[:k]); err != nil {
			_ = conn.Close()
			return 0, err
		}
		left -= k
	}
	if err := conn.Close(); err != nil {
		return 0, err
	}
	if m := <-got; m != n {
		return 0, fmt.Errorf("copied %d of %d bytes", m, n)
	}
	return mib(n) / clk.Since(start).Seconds(), nil
}
