package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/internal/testenv/cluster"
	"github.com/handover-dev/handover/internal/testenv/realnode"
)

func newUpCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the sandbox cluster and print its kubeconfig path",
		Long: `Start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
detached on free 127.0.0.1 ports, with certificates generated for this run,
and wait until every component is healthy, the kwok nodes are Ready and the
default ServiceAccount exists.

Fails, starting nothing, when the sandbox is already up or the binaries are
missing (build them with ` + "`make k8s-binaries`" + `). If start-up fails half-way,
every process started so far is stopped and the logs stay in --state-dir/logs.`,
		Example: `  handover sandbox up
  handover sandbox up --nodes 3 --state-dir /tmp/sb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.BinDir, "bin-dir", o.BinDir, "`directory` with the binaries that \"make k8s-binaries\" builds (env "+cluster.BinDirEnv+")")
	cmd.Flags().IntVar(&o.Nodes, "nodes", o.Nodes, "number of kwok fake nodes")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to wait for the cluster to become ready")
	cmd.Flags().BoolVar(&o.RealNode, "real-node", o.RealNode, "also join one real kubelet node "+realnode.NodeName+" (root; containerd, runc and the CNI bridge 198.18.0.0/24 via hack/realnode.sh, run from the repository; see docs/real-node.md)")
	cmd.Flags().StringVar(&o.Images, "images", o.Images, "with --real-node: directory of prebuilt OCI archives (hack/realnode.sh images DIR); default: build them")
	return cmd
}

func runUp(ctx context.Context, o *Options, out io.Writer) error {
	if o.StateDir == "" {
		return ErrNoStateDir
	}
	if o.Nodes < 1 {
		return fmt.Errorf("flag --nodes: %d, want at least 1", o.Nodes)
	}
	if err := cluster.CheckBinaries(o.BinDir, cluster.RequiredFiles()...); err != nil {
		return err
	}
	if s, err := cluster.ReadState(o.StateDir); err == nil && s.AnyRunning() {
		return fmt.Errorf("%w (state in %s); stop it first with `handover sandbox down --state-dir %s`", ErrAlreadyUp, o.StateDir, o.StateDir)
	}
	if err := clearStateDir(o.StateDir); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "starting sandbox (Kubernetes %s) in %s\n", cluster.KubernetesVersion, o.StateDir)
	c, err := cluster.Start(ctx, cluster.Options{
		BinDir:   o.BinDir,
		Dir:      o.StateDir,
		Nodes:    o.Nodes,
		Detach:   true,
		Timeout:  o.Timeout,
		Clock:    o.Clock,
		Progress: func(msg string) { _, _ = fmt.Fprintf(out, "  %s\n", msg) },
	})
	if err != nil {
		return fmt.Errorf("sandbox up (logs in %s): %w", filepath.Join(o.StateDir, "logs"), err)
	}
	nodes := c.Nodes
	if o.RealNode {
		if err := upRealNode(ctx, o, c.Dir, out); err != nil {
			return err
		}
		nodes = append(nodes, realnode.NodeName+" (real)")
	}
	pids := make([]string, 0, len(c.State.Processes))
	for _, p := range c.State.Processes {
		pids = append(pids, fmt.Sprintf("%s=%d", p.Name, p.PID))
	}
	kubectl := filepath.Join(o.BinDir, cluster.BinKubectl)
	if cluster.CheckBinaries(o.BinDir, cluster.BinKubectl) != nil {
		kubectl = "kubectl"
	}
	_, err = fmt.Fprintf(out, `sandbox up: API server %s, nodes %s
processes: %s
kubeconfig: %s
try:
  %s --kubeconfig %s get nodes
stop it with:
  handover sandbox down --state-dir %s
`, c.State.APIServerURL, strings.Join(nodes, ", "), strings.Join(pids, " "), c.Kubeconfig, kubectl, c.Kubeconfig, o.StateDir)
	return err
}

// stateEntries are the only names clearStateDir removes, so a mistaken
// --state-dir never loses unrelated files.
func stateEntries() []string {
	return []string{nodeDir, nodeImagesDir, "pki", "etcd", "logs", "apiserver-certs", cluster.StateFile, cluster.StateFile + ".tmp",
		"admin.kubeconfig", cluster.BinControllerManager + ".kubeconfig", cluster.BinScheduler + ".kubeconfig", cluster.BinKwok + ".kubeconfig"}
}

// clearStateDir removes what an earlier (stopped or crashed) sandbox left.
func clearStateDir(dir string) error {
	for _, e := range stateEntries() {
		if err := os.RemoveAll(filepath.Join(dir, e)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clear old sandbox state in %s: %w", dir, err)
		}
	}
	return nil
}
