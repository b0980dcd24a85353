// Package controlplane is the `handover controlplane` command group: live
// migration of a whole control plane (etcd members and the kube-apiserver
// behind a stable DNS name) on the plan engine.
package controlplane

import (
	"github.com/spf13/cobra"
	"k8s.io/utils/clock"
)

// NewCommand returns `handover controlplane` with its subcommands.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controlplane",
		Short: "Move etcd and the kube-apiserver behind a DNS name to new hosts without failed requests",
		Long: `Operate on a whole control plane: etcd members and the kube-apiserver that
clients reach through a stable DNS name. "handover controlplane migrate" moves
both to new hosts (GEP-0039 order); see its --help and
docs/controlplane-migration.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newMigrateCommand(clock.RealClock{}))
	return cmd
}
