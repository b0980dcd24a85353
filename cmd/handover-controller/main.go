// Command handover-controller is the operator's binary: the handover CLI
// with only the `controller` and `version` commands, run by the Deployment
// of deploy/ and the Helm chart (`handover-controller controller ...`, the
// same flags as `handover controller`). It does not link the etcd server,
// the migrations, the demos or the canary tooling that the full CLI carries,
// so the process in the cluster maps and pages in less of its own binary:
// at 1,000 CertificateAuthorities its peak RSS is about 13 MiB lower
// (docs/scale.md). Exit status 0 on success, 1 on any error (printed to
// stderr as "error: ...").
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/internal/cli/controller"
	"github.com/handover-dev/handover/internal/cli/version"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "handover-controller",
		Short: "The handover operator (the handover CLI with only its controller command)",
		Long: `handover-controller runs the handover operator: the same command as
"handover controller", in a binary without the CLI's other commands (etcd and
control-plane migration, demos, sandbox), so it is smaller in memory. Use the
full handover binary for everything else.`,
		Example:       "  handover-controller controller --leader-elect=true --metrics-bind-address=:8443 --metrics-secure",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(controller.NewCommand(), version.NewCommand())
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRoot()
	root.SetArgs(os.Args[1:])
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		_, _ = fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}
