// Package root builds the `handover` command tree. Each command group lives in
// its own package under internal/cli and exposes NewCommand(); add it below.
package root

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/internal/cli/ca"
	"github.com/handover-dev/handover/internal/cli/canary"
	"github.com/handover-dev/handover/internal/cli/controller"
	"github.com/handover-dev/handover/internal/cli/controlplane"
	"github.com/handover-dev/handover/internal/cli/demo"
	"github.com/handover-dev/handover/internal/cli/etcd"
	"github.com/handover-dev/handover/internal/cli/sandbox"
	"github.com/handover-dev/handover/internal/cli/tlsserver"
	"github.com/handover-dev/handover/internal/cli/version"
	"github.com/handover-dev/handover/internal/netns"
)

// NewCommand returns the root command with every command group attached.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "handover",
		Short: "Make-before-break changes to a running control plane",
		Long: `handover changes the foundations of a running control plane without downtime:

  trust rotation     overlapping CA bundles, leaf re-issue, restarts of load-once
                     consumers, every step verified by real mTLS handshakes
  live migration     etcd members moved by learners, promote, leader transfer and
                     quorum-safe removal
  controller canary  old and new controller versions side by side (planned)

Every transition is a plan of gated steps with a point of no return; progress is
checkpointed so a killed run resumes, and probes measure the downtime it caused.
Also usable as a kubectl plugin (install the binary as kubectl-handover).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(
		ca.NewCommand(),
		canary.NewCommand(),
		controller.NewCommand(),
		demo.NewCommand(),
		etcd.NewCommand(),
		controlplane.NewCommand(),
		sandbox.NewCommand(),
		tlsserver.NewCommand(),
		version.NewCommand(),
	)
	return cmd
}

// Execute runs the command tree with args and returns the process exit code:
// 0 on success, 1 on any error (printed to stderr as "error: ...").
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return ExecuteAs(ctx, "handover", args, stdout, stderr)
}

// ExecuteAs is Execute with help and examples naming the command name
// (DisplayName: "kubectl handover" when run as a kubectl plugin).
func ExecuteAs(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	cmd := NewCommand()
	displayAs(cmd, name)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		// A command re-run in a private network namespace (netns) printed
		// its own error; pass its status on.
		if ee := (*netns.ExitError)(nil); errors.As(err, &ee) {
			return ee.Code
		}
		_, _ = fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}
