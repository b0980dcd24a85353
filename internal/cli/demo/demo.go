// Package demo is the `handover demo` command group: end-to-end demos that
// run on embedded defaults (local processes on 127.0.0.1, no cluster) and
// measure their own downtime.
package demo

import "github.com/spf13/cobra"

// NewCommand returns `handover demo` with its subcommands.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the demos on embedded defaults (no cluster needed)",
		Long: `Run handover's demos on embedded defaults: every demo starts what it needs on
loopback (servers, clients, etcd members), makes a change while probes measure
it, and prints what the probes saw. No cluster, no Docker, no network access.
The etcd and controlplane demos use loopback addresses besides 127.0.0.1
(127.0.0.2), so they run again inside a private network namespace they create
(as root, or in a user namespace where unprivileged ones are allowed); nothing
of theirs listens on the host.

Each demo can write the report as JSON (--json, schema handover.report/v1) and
an SVG timeline (--svg).`,
		Example: `  # rotate a CA three ways and compare the failed handshakes
  handover demo rotate --compare --json out/rotate.json --svg out/rotate.svg

  # move a loaded 3-member etcd cluster onto 3 new members under live traffic
  handover demo etcd --json out/etcd.json --svg out/etcd.svg

  # move etcd and a kube-apiserver behind a DNS name; compare handover, poc, backup-restore
  handover demo controlplane --json out/controlplane.json --svg out/controlplane.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newRotateCommand(),
		newEtcdCommand(),
		newCanaryCommand(),
		newControlplaneCommand(),
	)
	return cmd
}
