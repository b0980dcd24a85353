package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/internal/testenv/cluster"
)

func newKubeconfigCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the path of the running sandbox's admin kubeconfig",
		Long: `Print the path of the admin kubeconfig of the running sandbox. The file
embeds a system:masters client certificate and key (mode 0600); the command
prints only its path. Fails when the sandbox is not up.`,
		Example: `  kubectl --kubeconfig "$(handover sandbox kubeconfig)" get pods -A
  export KUBECONFIG="$(handover sandbox kubeconfig)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKubeconfig(o, cmd.OutOrStdout())
		},
	}
}

func runKubeconfig(o *Options, out io.Writer) error {
	if o.StateDir == "" {
		return ErrNoStateDir
	}
	s, err := cluster.ReadState(o.StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: no state in %s; start it with `handover sandbox up`", ErrNotUp, o.StateDir)
	}
	if err != nil {
		return err
	}
	if !s.Ready || !s.AnyRunning() {
		return fmt.Errorf("%w: the sandbox in %s is not running; start it with `handover sandbox up`", ErrNotUp, o.StateDir)
	}
	_, err = fmt.Fprintln(out, s.Kubeconfig)
	return err
}
