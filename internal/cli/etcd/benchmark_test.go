package etcd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/probe/etcdbench"
)

// benchmarkBinary returns etcd's own `benchmark` tool, built by
// `make etcd-benchmark` (hack/etcd-benchmark, pinned to etcd v3.6.5) into
// $HANDOVER_ETCD_BENCHMARK or ~/.cache/handover/etcd-benchmark/v3.6.5; the
// test is skipped without it.
func benchmarkBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("HANDOVER_ETCD_BENCHMARK")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "handover", "etcd-benchmark", "v3.6.5", "benchmark")
	}
	if !fileExists(p) {
		t.Skipf("etcd benchmark tool not at %s: run make etcd-benchmark", p)
	}
	return p
}

// TestMembershipFollowingClientSeesNoErrors migrates a 3-member cluster of
// etcd processes onto 3 new ones while etcd's own `benchmark put` and
// `benchmark range --consistency=l`, started against the source members with
// --auto-sync-interval (clients that follow the membership, written by
// nobody here), run throughout. With the source members stopped gracefully
// before their removal (--stop-source), paced removals and the clients
// paused around the leadership transfer (--hold-clients: here SIGSTOP and
// SIGCONT, standing in for a proxy that stops forwarding), the benchmarks
// must end by themselves (no hang) with 0 errors in their own summaries. A
// static client gets the endpoints hook: its last published list holds
// only the targets' client URLs.
func TestMembershipFollowingClientSeesNoErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: real etcd processes and etcd's benchmark tool")
	}
	migrateUnderBenchmark(t, 0, 90)
}

// TestMigrateGiBUnderBenchmark is the same with 1 GiB loaded first
// (HANDOVER_ETCD_GIB=1; minutes of CPU and ~4 GiB of disk).
func TestMigrateGiBUnderBenchmark(t *testing.T) {
	if os.Getenv("HANDOVER_ETCD_GIB") == "" {
		t.Skip("HANDOVER_ETCD_GIB unset")
	}
	migrateUnderBenchmark(t, 1024, 360)
}

// migrateUnderBenchmark loads dataMiB of 64 KiB values, runs the benchmarks
// for about seconds (they must outlast the migration) and migrates.
func migrateUnderBenchmark(t *testing.T, dataMiB, seconds int) {
	bench := benchmarkBinary(t)
	etcdBin := etcdBinary(t)
	srcDir := t.TempDir()
	srcProv := &etcdmig.Process{Binary: etcdBin, BaseDir: srcDir}
	ms := processCluster(t, srcProv, 3)
	c := connectRetry(t, endpointsOf(ms))
	loadValues(t, c, dataMiB)

	work := t.TempDir()
	endpointsFile := filepath.Join(work, "endpoints")
	onEndpoints := filepath.Join(work, "on-endpoints.sh")
	stopSource := filepath.Join(work, "stop-source.sh")
	writeScript(t, onEndpoints, fmt.Sprintf("echo \"$HANDOVER_ENDPOINTS\" >> %q\n", endpointsFile))
	// The hold pauses the benchmark processes (their PIDs in pidsFile) and
	// logs each call to holdLog.
	pidsFile, holdLog := filepath.Join(work, "bench.pids"), filepath.Join(work, "hold.log")
	holdClients := filepath.Join(work, "hold-clients.sh")
	writeScript(t, holdClients, fmt.Sprintf("case \"$HANDOVER_HOLD\" in hold) sig=STOP;; release) sig=CONT;; *) exit 2;; esac\n"+
		"echo \"$HANDOVER_HOLD\" >> %q\nfor pid in $(cat %q); do kill -$sig \"$pid\" || exit 1; done\n", holdLog, pidsFile))
	// SIGTERM: etcd stops its gRPC servers gracefully; wait until it is gone.
	// The pid file (internal/proc) holds "PID STARTTIME": the first field.
	writeScript(t, stopSource, fmt.Sprintf("read -r pid _ < %q/\"$HANDOVER_MEMBER_NAME\".pid || exit 1\nkill -TERM \"$pid\" || exit 1\n"+
		"for i in $(seq 200); do kill -0 \"$pid\" 2>/dev/null || exit 0; sleep 0.1; done\necho still running >&2; exit 1\n", srcDir))

	// 50 puts/s and 20 linearizable ranges/s for longer than the migration.
	const rate, rangeRate = 50, 20
	total := rate * seconds
	common := []string{"--endpoints=" + strings.Join(endpointsOf(ms), ","), "--auto-sync-interval=1s", "--dial-timeout=2s", "--conns=2", "--clients=4"}
	planned := time.Duration(seconds) * time.Second
	put := startBenchmark(t, bench, planned, append(common, "put", "--key-size=8", "--val-size=64", "--key-space-size=1000",
		fmt.Sprintf("--rate=%d", rate), fmt.Sprintf("--total=%d", total)))
	rng := startBenchmark(t, bench, planned, append(common, "range", "bench-range-key", "--consistency=l",
		fmt.Sprintf("--rate=%d", rangeRate), fmt.Sprintf("--total=%d", rangeRate*seconds)))
	if err := os.WriteFile(pidsFile, fmt.Appendf(nil, "%d %d\n", put.pid, rng.pid), 0o600); err != nil {
		t.Fatal(err)
	}

	urls, err := etcdmig.FreeLoopbackURLs(6)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(work, "data")
	tgtProv := &etcdmig.Process{Binary: etcdBin, BaseDir: dataDir}
	args := []string{"--endpoints", strings.Join(endpointsOf(ms), ","), "--provisioner", "process", "--etcd-binary", etcdBin,
		"--data-dir", dataDir, "--state-dir", filepath.Join(work, "state"), "--probe-rate", "20",
		"--on-endpoints", onEndpoints, "--stop-source", stopSource, "--removal-pace", "3s", "--drain-timeout", "30s",
		"--hold-clients", holdClients}
	var targets []string
	for i := range 3 {
		tg := etcdmig.Target{Name: fmt.Sprintf("t%d", i+1), PeerURL: urls[2*i], ClientURL: urls[2*i+1]}
		t.Cleanup(func() { _ = tgtProv.Stop(context.Background(), tg.Name) })
		args = append(args, "--to", tg.String())
		targets = append(targets, tg.ClientURL)
	}
	out, errOut, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("migrate: %v\n%s\n%s", err, out, errOut)
	}
	t.Logf("migrate report:\n%s", out)
	for _, b := range []*benchRun{put, rng} {
		select {
		case err := <-b.exited:
			t.Fatalf("benchmark %s ended (%v) before the migration did: the test saw no removal under load\n%s", b.kind, err, b.out.String())
		default:
		}
	}
	for _, b := range []*benchRun{rng, put} {
		checkBenchmark(t, b)
	}
	holds, err := os.ReadFile(holdLog)
	if err != nil {
		t.Fatalf("--hold-clients never ran: %v", err)
	}
	if got := strings.Fields(string(holds)); len(got) == 0 || len(got)%2 != 0 || got[0] != "hold" || got[len(got)-1] != "release" {
		t.Fatalf("--hold-clients calls %q, want hold/release pairs", got)
	}
	b, err := os.ReadFile(endpointsFile)
	if err != nil {
		t.Fatal(err)
	}
	published := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(published) != 3 {
		t.Fatalf("endpoints hook ran %d times, want once per source removal: %q", len(published), published)
	}
	if last := published[len(published)-1]; last != strings.Join(targets, ",") {
		t.Fatalf("last published endpoints %q, want only the targets %q", last, strings.Join(targets, ","))
	}
}

// benchRun is one running `benchmark` process.
type benchRun struct {
	kind  string // "put", "range"
	pid   int
	total int // its --total
	// deadline is when it should have ended by itself: its planned
	// duration (total/rate) plus 2 minutes of slack; later is a hang.
	deadline time.Time
	out      *bytes.Buffer
	exited   chan error
}

// startBenchmark starts bench with args, planned to run for about d,
// killed (by PID) at the test's end.
func startBenchmark(t *testing.T, bench string, d time.Duration, args []string) *benchRun {
	t.Helper()
	var out bytes.Buffer
	b := &benchRun{out: &out, exited: make(chan error, 1), deadline: time.Now().Add(d + 2*time.Minute)}
	for _, a := range args {
		if a == "put" || a == "range" {
			b.kind = a
		}
		if v, ok := strings.CutPrefix(a, "--total="); ok {
			b.total, _ = strconv.Atoi(v)
		}
	}
	cmd := exec.Command(bench, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.pid = cmd.Process.Pid
	done := make(chan struct{})
	go func() { b.exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // a no-op once it exited
		<-done
	})
	return b
}

// checkBenchmark waits for b to end by itself (until b.deadline: else it
// hung) and fails on any error in its summary.
func checkBenchmark(t *testing.T, b *benchRun) {
	t.Helper()
	select {
	case err := <-b.exited:
		if err != nil {
			t.Fatalf("benchmark %s: %v\n%s", b.kind, err, b.out.String())
		}
	case <-time.After(time.Until(b.deadline)):
		t.Fatalf("benchmark %s hung after the migration:\n%s", b.kind, b.out.String())
	}
	sum, err := etcdbench.ParseSummary(b.out.String())
	if err != nil {
		t.Fatalf("benchmark %s: %v", b.kind, err)
	}
	t.Logf("benchmark %s: %d requests (--total), %d succeeded (its histogram), %d failed %v, in %s",
		b.kind, b.total, sum.Succeeded, sum.Failed(), sum.Errors, sum.Total.Round(time.Millisecond))
	// Its own summary accounts for every request it was told to send.
	if sum.Succeeded+sum.Failed() != int64(b.total) {
		t.Fatalf("benchmark %s: %d succeeded + %d failed ≠ %d sent", b.kind, sum.Succeeded, sum.Failed(), b.total)
	}
	// Every error counts: the removals' (cut off by a removed member) are
	// prevented by the endpoints hook, the graceful stop and the pacing;
	// the leadership transfer's ("raft proposal dropped", "request timed
	// out") by the client hold.
	if n := sum.Failed(); n != 0 {
		t.Fatalf("benchmark %s saw %d errors: %v", b.kind, n, sum.Errors)
	}
}

// loadValues puts mib MiB of 64 KiB values under data/, 8 at a time.
func loadValues(t *testing.T, c *etcdmig.Cluster, mib int) {
	t.Helper()
	n := mib * 16
	val := strings.Repeat("v", 64<<10)
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := c.Client().Put(ctx, fmt.Sprintf("data/%06d", i), val)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("load: %v", err)
		}
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}
