// Package etcd is the `handover etcd` command group: live etcd membership
// migration (`handover etcd migrate`) on the plan engine, with probes
// measuring what clients saw.
package etcd

import (
	"github.com/spf13/cobra"
	"k8s.io/utils/clock"
)

// NewCommand returns `handover etcd` with its subcommands.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "Move a running etcd cluster's members to new hosts without downtime",
		Long: `Operate on a running etcd cluster without downtime.

"handover etcd migrate" moves every member of a cluster onto new members
(new hosts, new ports, new data directories) one learner at a time, so the
cluster keeps quorum and every acknowledged write throughout. See its --help.`,
		Example: `  # what would happen, changing nothing
  handover etcd migrate --endpoints http://10.0.0.1:2379 \
      --to t1=http://10.0.1.1:2380,http://10.0.1.1:2379 --plan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newMigrateCommand(clock.RealClock{}))
	return cmd
}
