package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/internal/testenv/cluster"
)

func newDownCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop every sandbox process and remove its state",
		Long: `Stop every process recorded in --state-dir/state.json, last started first:
SIGTERM to the process group, SIGKILL after 10 s. A process is recognised by
PID and start time, so a PID reused by an unrelated process is never
signalled. Then remove the sandbox's files from --state-dir (keep them, logs
included, with --keep).

Fails when no sandbox state exists, and when a process survives SIGKILL
(its state is then kept).`,
		Example: `  handover sandbox down
  handover sandbox down --keep   # keep logs and etcd data for inspection`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDown(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&o.Keep, "keep", o.Keep, "keep the state directory (logs, etcd data, certificates)")
	return cmd
}

func runDown(ctx context.Context, o *Options, out io.Writer) error {
	if o.StateDir == "" {
		return ErrNoStateDir
	}
	if err := downRealNode(ctx, o, out); err != nil {
		return err
	}
	s, err := cluster.StopDir(ctx, o.Clock, o.StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: no state in %s", ErrNotUp, o.StateDir)
	}
	if err != nil {
		return fmt.Errorf("sandbox down (state kept in %s): %w", o.StateDir, err)
	}
	for _, p := range s.Processes {
		if _, err := fmt.Fprintf(out, "stopped %s (pid %d)\n", p.Name, p.PID); err != nil {
			return err
		}
	}
	if o.Keep {
		_, err := fmt.Fprintf(out, "sandbox down; state kept in %s\n", o.StateDir)
		return err
	}
	if err := clearStateDir(o.StateDir); err != nil {
		return err
	}
	// Remove the directory itself only if nothing else is in it.
	_ = os.Remove(o.StateDir)
	_, err = fmt.Fprintln(out, "sandbox down")
	return err
}
