package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/testenv/cluster"
	"github.com/handover-dev/handover/internal/testenv/realnode"
)

// RealNodeImagesEnv names a directory of prebuilt OCI archives
// (hack/realnode.sh images DIR) the harness imports instead of building them
// (about 1-5 min by load).
const RealNodeImagesEnv = "HANDOVER_REALNODE_IMAGES"

// RealNodeSyncEnv overrides the real kubelet's syncFrequency for a whole
// test run (e.g. "1m", the Kubernetes default, in `make
// test-realnode-default-timing`); ClusterOptions.SyncFrequency wins over it.
const RealNodeSyncEnv = "HANDOVER_REALNODE_SYNC_FREQUENCY"

// RealNodeSyncFrequency is the syncFrequency a real node of this test run
// gets: $HANDOVER_REALNODE_SYNC_FREQUENCY, else realnode.SyncFrequency.
func RealNodeSyncFrequency() time.Duration {
	s := os.Getenv(RealNodeSyncEnv)
	if s == "" {
		s = realnode.SyncFrequency
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d
}

// RequireRealNode returns the repository root when a real node can start:
// root, hack/realnode.sh above the working directory, the kubelet and pause
// binaries. Otherwise it skips under -short and fails the test, saying what
// is missing.
func RequireRealNode(t testing.TB) string {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		if testing.Short() {
			t.Skipf("skipping in -short: "+format, args...)
		}
		t.Fatalf(format+" (the full test tier needs it; CI runs as root)", args...)
	}
	if os.Geteuid() != 0 {
		fail("%v: run the real-node tier as root", realnode.ErrNotRoot)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	repo, err := realnode.FindRepo(wd)
	if err != nil {
		fail("%v", err)
	}
	bin := realnode.DefaultBinDir(os.Getenv)
	if err := cluster.CheckBinaries(bin, "kubelet", "pause"); err != nil {
		fail("%v; build them with hack/node-binaries.sh", err)
	}
	return repo
}

func startRealNode(t testing.TB, c *cluster.Cluster, opts ClusterOptions) *realnode.Node {
	t.Helper()
	repo := RequireRealNode(t)
	logf := func(l string) { t.Logf("realnode: %s", l) }
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	images := os.Getenv(RealNodeImagesEnv)
	if images == "" {
		images = t.TempDir()
		start := time.Now()
		if err := realnode.BuildImages(ctx, repo, images, nil, logf); err != nil {
			t.Fatalf("build real-node images: %v", err)
		}
		t.Logf("real-node images built in %s", time.Since(start).Round(time.Second))
	}
	dir, err := os.MkdirTemp("", "handover-realnode-")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sync := opts.SyncFrequency
	if sync == "" {
		sync = os.Getenv(RealNodeSyncEnv)
	}
	n, err := realnode.Up(ctx, repo, realnode.Options{
		Dir: dir, ClusterDir: c.Dir, Images: images, SyncFrequency: sync,
		Env: []string{"K8S_BIN=" + BinDir()},
	}, logf)
	if err != nil {
		t.Fatalf("real node up (state in %s): %v", dir, err)
	}
	t.Logf("real node %s Ready %s after up (measured, not asserted)", realnode.NodeName, time.Since(start).Round(100*time.Millisecond))
	return n
}

// downRealNode takes the node down and fails the test unless the host is as
// it was before Up; the node's directory is kept (and logged) on failure.
func downRealNode(t testing.TB, n *realnode.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logf := func(l string) { t.Logf("realnode: %s", l) }
	err := errors.Join(n.Down(ctx, logf), n.Check(ctx, logf))
	if err != nil {
		t.Errorf("real node down: %v", err)
	}
	if err != nil || t.Failed() {
		for _, name := range []string{"kubelet", "containerd"} {
			t.Logf("---- last lines of %s.log ----\n%s", name, cluster.LogTails(n.Dir(), 40)[name])
		}
		t.Logf("real node state kept in %s", n.Dir())
		return
	}
	_ = os.RemoveAll(filepath.Clean(n.Dir()))
}

// RequireHelm returns $HELM, else helm on PATH; without one it skips under
// -short and fails otherwise (`make test` installs the pinned helm into
// ./bin and sets $HELM).
func RequireHelm(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	h, err := exec.LookPath("helm")
	if err != nil {
		if testing.Short() {
			t.Skip("skipping in -short: helm not found (set $HELM or put helm on PATH)")
		}
		t.Fatal("helm not found: set $HELM or put helm on PATH (`make test` installs the pinned helm into ./bin)")
	}
	return h
}
