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
)

// `handover sandbox up` leaves a running cluster behind when the command
// exits; the built kubectl sees a Ready node through the printed kubeconfig;
// `handover sandbox down` stops every recorded process.
func TestSandboxUpKubectlDown(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: starts a full cluster")
	}
	bin := testenv.RequireBinaries(t, append(cluster.RequiredFiles(), cluster.BinKubectl)...)
	state := filepath.Join(t.TempDir(), "sandbox")
	// Safety net: whatever happens below, nothing outlives the test.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if s, err := cluster.StopDir(ctx, clock.RealClock{}, state); err == nil && t.Failed() {
			for name, lines := range cluster.LogTails(state, 30) {
				t.Logf("---- %s.log ----\n%s", name, lines)
			}
			t.Logf("stopped %d leftover sandbox processes", len(s.Processes))
		}
	})

	out := sandboxCLI(t, true, "up", "--state-dir", state, "--bin-dir", bin)
	t.Logf("sandbox up:\n%s", out)
	kubeconfig := strings.TrimSpace(sandboxCLI(t, true, "kubeconfig", "--state-dir", state))
	if !strings.Contains(out, kubeconfig) {
		t.Errorf("up did not print the kubeconfig path %s", kubeconfig)
	}
	s, err := cluster.ReadState(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Processes) != 5 {
		t.Fatalf("state records %d processes, want 5", len(s.Processes))
	}
	for _, p := range s.Processes {
		if !cluster.Running(p) {
			t.Fatalf("%s (pid %d) is not running after `sandbox up` exited", p.Name, p.PID)
		}
	}

	if msg := sandboxCLI(t, false, "up", "--state-dir", state, "--bin-dir", bin); !strings.Contains(msg, "already up") {
		t.Errorf("second up: got %q, want an 'already up' error", msg)
	}

	kubectl := exec.Command(filepath.Join(bin, cluster.BinKubectl), "--kubeconfig", kubeconfig, "get", "nodes", "--no-headers")
	nodes, err := kubectl.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get nodes: %v\n%s", err, nodes)
	}
	t.Logf("kubectl get nodes:\n%s", nodes)
	fields := strings.Fields(string(nodes))
	if len(fields) < 2 || fields[0] != "kwok-node-0" || fields[1] != "Ready" {
		t.Fatalf("kubectl get nodes = %q, want kwok-node-0 Ready", nodes)
	}

	down := sandboxCLI(t, true, "down", "--state-dir", state)
	t.Logf("sandbox down:\n%s", down)
	for _, p := range s.Processes {
		if cluster.Running(p) {
			t.Errorf("%s (pid %d) still running after `sandbox down`", p.Name, p.PID)
		}
		if !strings.Contains(down, p.Name) {
			t.Errorf("down did not report stopping %s", p.Name)
		}
	}
	if _, err := os.Stat(filepath.Join(state, cluster.StateFile)); !os.IsNotExist(err) {
		t.Errorf("state file left after down: %v", err)
	}
	if msg := sandboxCLI(t, false, "kubeconfig", "--state-dir", state); !strings.Contains(msg, "not up") {
		t.Errorf("kubeconfig after down: got %q, want a 'not up' error", msg)
	}
	if msg := sandboxCLI(t, false, "down", "--state-dir", state); !strings.Contains(msg, "not up") {
		t.Errorf("second down: got %q, want a 'not up' error", msg)
	}
}

// sandboxCLI runs `handover sandbox args...` as a separate process (this test
// binary in CLI mode, see TestMain) and returns its combined output; it fails
// the test when the exit status differs from wantOK.
func sandboxCLI(t *testing.T, wantOK bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("handover sandbox %s: err=%v, want ok=%v\n%s", strings.Join(args, " "), err, wantOK, out)
	}
	return string(out)
}
