// Package sandbox is the `handover sandbox` command group: a local
// kubelet-less Kubernetes cluster (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok fake nodes) that outlives the
// command, for trying handover without a real cluster. It is the same cluster
// the e2e tests use (internal/testenv/cluster), started detached.
package sandbox

import (
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/testenv/cluster"
)

// Options are the flags of the sandbox commands.
type Options struct {
	// StateDir holds state.json (PIDs), the kubeconfigs, pki/, etcd/ and logs/.
	StateDir string
	// BinDir holds the binaries from `make k8s-binaries` (up only).
	BinDir string
	// Nodes is the number of kwok nodes (up only).
	Nodes int
	// Timeout bounds start-up (up only).
	Timeout time.Duration
	// Keep keeps StateDir (logs, etcd data) after down.
	Keep bool
	// RealNode joins one real kubelet node (up only; root; hack/realnode.sh
	// from the repository in the working directory).
	RealNode bool
	// Images is a directory of prebuilt node images (up --real-node only;
	// "" builds them into StateDir/node-images).
	Images string
	// Clock paces polling.
	Clock clock.Clock
}

// DefaultStateDir returns ${XDG_STATE_HOME:-$HOME/.local/state}/handover/sandbox
// given an environment lookup, or "" when neither variable is set.
func DefaultStateDir(getenv func(string) string) string {
	base := getenv("XDG_STATE_HOME")
	if base == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "handover", "sandbox")
}

// NewCommand returns `handover sandbox` with up, down and kubeconfig.
func NewCommand() *cobra.Command {
	o := &Options{
		StateDir: DefaultStateDir(os.Getenv),
		BinDir:   cluster.DefaultBinDir(os.Getenv),
		Nodes:    1,
		Timeout:  2 * time.Minute,
		Clock:    clock.RealClock{},
	}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local kubelet-less Kubernetes cluster to try handover on",
		Long: `Run a local Kubernetes ` + cluster.KubernetesVersion + ` control plane with fake nodes, on 127.0.0.1 only.

The sandbox is five real processes built from source by ` + "`make k8s-binaries`" + `:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok. kwok
plays the kubelet: its nodes turn Ready and pods scheduled on them become
Running and Ready without running any container. Deployments, ReplicaSets,
PodDisruptionBudgets, evictions and rolling restarts behave as in a real
cluster; container images, logs, exec and networking do not exist.

"up" generates fresh certificates, starts the processes detached (they
outlive the command), waits until a node is Ready and prints the kubeconfig
path. "down" stops every process by PID (SIGTERM to its process group,
SIGKILL after 10 s) and removes the state directory. "kubeconfig" prints the
path of the admin kubeconfig (system:masters; keep it private).

State lives in --state-dir: state.json (names, PIDs, start times), the
kubeconfigs, pki/, etcd/ and logs/<component>.log.`,
		Example: `  make k8s-binaries                  # once: builds the binaries (6-23 min cold on 2 cores)
  handover sandbox up
  kubectl --kubeconfig "$(handover sandbox kubeconfig)" get nodes
  handover sandbox down`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&o.StateDir, "state-dir", o.StateDir, "directory holding the sandbox's state, kubeconfig and logs")
	cmd.AddCommand(newUpCommand(o), newDownCommand(o), newKubeconfigCommand(o))
	return cmd
}
