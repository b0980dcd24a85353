package demo

import (
	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/internal/netns"
)

// isolated runs a demo that needs loopback addresses besides 127.0.0.1
// (member metrics and the target site on 127.0.0.2) in a private network
// namespace (netns): the command runs again there, with the same arguments,
// and its exit status is the demo's. Where no namespace can be created
// (not root and unprivileged user namespaces disabled) it says so and runs
// on the host's loopback. Inside one already (a test, or the re-run), it
// brings the loopback up and runs.
func isolated(run func(cmd *cobra.Command, args []string) error) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		done, err := netns.Enter(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		if done || err != nil {
			return err
		}
		return run(cmd, args)
	}
}
