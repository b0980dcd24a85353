package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/cluster"
	"github.com/handover-dev/handover/internal/testenv/realnode"
)

// `handover sandbox up --real-node` leaves the cluster and a Ready real node
// behind when the command exits; `handover sandbox down` takes both down and
// (it checks) leaves the host as it found it.
func TestSandboxRealNodeUpDown(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: starts a full cluster with a real kubelet node (root)")
	}
	testenv.RequireRealNode(t)
	bin := testenv.RequireBinaries(t, append(cluster.RequiredFiles(), cluster.BinKubectl)...)
	state := filepath.Join(t.TempDir(), "sandbox")
	t.Cleanup(func() { // safety net: nothing outlives the test
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if n, err := realnode.Open(filepath.Join(state, "node")); err == nil {
			_ = n.Down(ctx, nil)
		}
		_, _ = cluster.StopDir(ctx, clock.RealClock{}, state)
	})
	args := []string{"up", "--real-node", "--state-dir", state, "--bin-dir", bin}
	if images := os.Getenv(testenv.RealNodeImagesEnv); images != "" {
		args = append(args, "--images", images)
	}
	out := sandboxCLI(t, true, args...)
	t.Logf("sandbox up --real-node:\n%s", out)
	if !strings.Contains(out, realnode.NodeName+" (real)") {
		t.Errorf("up did not list the real node %s", realnode.NodeName)
	}
	kubeconfig := strings.TrimSpace(sandboxCLI(t, true, "kubeconfig", "--state-dir", state))
	kubectl := exec.Command(filepath.Join(bin, cluster.BinKubectl), "--kubeconfig", kubeconfig, "get", "node", realnode.NodeName,
		"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	ready, err := kubectl.CombinedOutput()
	if err != nil || string(ready) != "True" {
		t.Fatalf("kubectl get node %s: Ready=%q, err %v", realnode.NodeName, ready, err)
	}
	down := sandboxCLI(t, true, "down", "--state-dir", state)
	t.Logf("sandbox down:\n%s", down)
	if !strings.Contains(down, "host as before up") {
		t.Errorf("down did not report the host check")
	}
}
