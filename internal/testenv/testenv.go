// Package testenv starts real Kubernetes control planes for tests:
//
//   - StartAPIServer: etcd + kube-apiserver through controller-runtime's
//     envtest, for integration tests that only need the API.
//   - StartCluster: the full kubelet-less cluster of package cluster (etcd,
//     kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes),
//     for e2e tests where Deployments, PodDisruptionBudgets and rollouts must
//     really happen.
//
// Both use the binaries hack/k8s-binaries.sh builds (`make k8s-binaries`),
// found in $HANDOVER_K8S_BIN or the default cache directory. When they are
// missing, a -short run skips the test and a full run fails it, saying how to
// build them.
package testenv

import (
	"context"
	"errors"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/handover-dev/handover/internal/testenv/cluster"
	"github.com/handover-dev/handover/internal/testenv/realnode"
)

// BinDir returns the binaries directory tests use (cluster.DefaultBinDir
// over the process environment).
func BinDir() string { return cluster.DefaultBinDir(os.Getenv) }

// RequireBinaries returns the binaries directory when it holds every name. If
// one is missing it skips the test under -short and fails it otherwise; both
// messages name the directory and say `make k8s-binaries`.
func RequireBinaries(t testing.TB, names ...string) string {
	t.Helper()
	dir := BinDir()
	if err := cluster.CheckBinaries(dir, names...); err != nil {
		if testing.Short() {
			t.Skipf("skipping in -short: %v", err)
		}
		t.Fatalf("%v (the full test tier needs them; `make test` builds them)", err)
	}
	return dir
}

// StartAPIServer starts etcd and kube-apiserver with envtest, stops them when
// the test ends, and returns an admin *rest.Config. The apiserver runs without
// the ServiceAccount admission plugin and without controllers (envtest's
// defaults), on loopback with --endpoint-reconciler-type=none.
func StartAPIServer(t testing.TB) *rest.Config {
	t.Helper()
	cfg, _ := StartAPIServerEtcd(t)
	return cfg
}

// StartAPIServerEtcd is StartAPIServer that also returns the client URL of
// its etcd (plain HTTP on loopback), for tests that write to storage
// behind the apiserver's back (an object stored before a validation rule
// existed).
func StartAPIServerEtcd(t testing.TB) (*rest.Config, *url.URL) {
	t.Helper()
	dir := RequireBinaries(t, cluster.BinEtcd, cluster.BinKubeAPIServer)
	env := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	env.ControlPlane.GetAPIServer().Configure().Set("endpoint-reconciler-type", "none")
	cfg, err := env.Start()
	if err != nil {
		// envtest stops what it started when Start fails.
		t.Fatalf("start envtest control plane from %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest control plane: %v", err)
		}
	})
	return cfg, env.ControlPlane.Etcd.URL
}

// ClusterOptions tune StartCluster; the zero value gives one kwok node.
type ClusterOptions struct {
	// Nodes is the number of kwok nodes (default 1).
	Nodes int
	// RealNode joins one real kubelet node (package realnode: containerd,
	// runc, the CNI bridge 198.18.0.0/24; kwok keeps off it). It needs root
	// and the node binaries (hack/node-binaries.sh): without them a -short
	// run skips and a full run fails. The cleanup takes the node down first
	// and fails the test if the host is not left as found.
	RealNode bool
	// SyncFrequency is the real kubelet's syncFrequency ("" =
	// $HANDOVER_REALNODE_SYNC_FREQUENCY, else realnode.SyncFrequency, 10s).
	SyncFrequency string
}

// StartCluster starts the full kubelet-less cluster in a fresh directory and
// registers a cleanup that stops every process by PID (process group
// SIGTERM, then SIGKILL). When the test failed, the cleanup prints the last
// 40 lines of each component log and keeps the directory (its path is
// logged); otherwise it removes it. Processes also die with the test binary
// (PR_SET_PDEATHSIG), so a timed-out test leaks none.
func StartCluster(t testing.TB, opts ClusterOptions) *cluster.Cluster {
	t.Helper()
	bin := RequireBinaries(t, cluster.RequiredFiles()...)
	dir, err := os.MkdirTemp("", "handover-cluster-")
	if err != nil {
		t.Fatalf("cluster dir: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{
		BinDir:   bin,
		Dir:      dir,
		Nodes:    opts.Nodes,
		Progress: func(msg string) { t.Logf("cluster: %s", msg) },
	})
	if err != nil {
		logTails(t, dir)
		t.Fatalf("start cluster (logs kept in %s): %v", dir, err)
	}
	var node *realnode.Node
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if node != nil {
			downRealNode(t, node)
		}
		stopErr := c.Stop(stopCtx)
		if stopErr != nil {
			t.Errorf("stop cluster: %v", stopErr)
		}
		if t.Failed() {
			logTails(t, dir)
			t.Logf("cluster logs kept in %s", dir)
			return
		}
		if errors.Is(stopErr, cluster.ErrStillRunning) {
			return
		}
		_ = os.RemoveAll(dir)
	})
	if opts.RealNode {
		node = startRealNode(t, c, opts)
	}
	return c
}

func logTails(t testing.TB, dir string) {
	t.Helper()
	tails := cluster.LogTails(dir, 40)
	names := make([]string, 0, len(tails))
	for n := range tails {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("---- last lines of %s.log ----\n%s", n, tails[n])
	}
}
