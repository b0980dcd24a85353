package controlplane

import (
	"context"
	"fmt"
	"strings"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// Exec runs a user's command to start and stop apiservers (ssh, a cloud
// CLI, systemd-run, kubectl scale …). The command gets:
//
//	HANDOVER_ACTION            "start" or "stop"
//	HANDOVER_APISERVER_NAME    e.g. "target"
//	HANDOVER_APISERVER_URL     https://ADDR:PORT
//	HANDOVER_ETCD_SERVERS      --etcd-servers value
//	HANDOVER_APISERVER_FLAGS   the flags handover would use, space-separated
//
// "start" must return once the process was launched and be idempotent;
// "stop" must stop it gracefully and return once it exited.
type Exec struct {
	Command       []string // argv; required
	TargetVersion string   // the version it runs ("" = unknown)
}

// Kind returns "exec".
func (e *Exec) Kind() string { return "exec" }

// Version returns TargetVersion.
func (e *Exec) Version(context.Context) (string, error) { return e.TargetVersion, nil }

// Start runs the command with HANDOVER_ACTION=start.
func (e *Exec) Start(ctx context.Context, spec APIServerSpec) error { return e.run(ctx, "start", spec) }

// Stop runs the command with HANDOVER_ACTION=stop.
func (e *Exec) Stop(ctx context.Context, spec APIServerSpec) error { return e.run(ctx, "stop", spec) }

func (e *Exec) run(ctx context.Context, action string, spec APIServerSpec) error {
	if len(e.Command) == 0 {
		return fmt.Errorf("%w: Exec.Command is empty", ErrInvalidConfig)
	}
	err := etcdmig.RunCommand(ctx, e.Command, []string{
		"HANDOVER_ACTION=" + action,
		"HANDOVER_APISERVER_NAME=" + spec.Name,
		"HANDOVER_APISERVER_URL=" + spec.URL(),
		"HANDOVER_ETCD_SERVERS=" + strings.Join(spec.EtcdServers, ","),
		"HANDOVER_APISERVER_FLAGS=" + strings.Join(spec.Flags("/var/lib/kube-apiserver/"+spec.Name), " "),
	})
	if err != nil {
		return fmt.Errorf("exec provisioner %s apiserver %q: %w", action, spec.Name, err)
	}
	return nil
}
