package etcd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Exec runs a user-supplied command to start and stop members (ssh, a cloud
// CLI, systemd-run, …). The command gets the member in its environment:
//
//	HANDOVER_ACTION                 "start" or "stop"
//	HANDOVER_MEMBER_NAME            e.g. "t1"
//	HANDOVER_PEER_URL               e.g. "https://10.0.0.5:2380"
//	HANDOVER_CLIENT_URL             e.g. "https://10.0.0.5:2379"
//	HANDOVER_INITIAL_CLUSTER        --initial-cluster value (start only)
//	HANDOVER_INITIAL_CLUSTER_STATE  "existing" (start only)
//	HANDOVER_ETCD_FLAGS             the etcd flags handover would use, space-separated,
//	                                with --data-dir=$HANDOVER_DATA_DIR
//	HANDOVER_DATA_DIR               DataDir/<name> (a suggestion)
//
// "start" must return once the member process was launched (exit 0) and be
// idempotent; "stop" must stop it and delete its data. A non-zero exit is
// an error carrying the command's last stderr lines.
type Exec struct {
	Command       []string // argv; required
	DataDir       string   // base of HANDOVER_DATA_DIR ("" = "/var/lib/etcd")
	TargetVersion string   // the version the command's members run ("" = unknown)
}

// Kind returns "exec".
func (p *Exec) Kind() string { return "exec" }

// Version returns TargetVersion.
func (p *Exec) Version(context.Context) (string, error) { return p.TargetVersion, nil }

// Start runs the command with HANDOVER_ACTION=start.
func (p *Exec) Start(ctx context.Context, spec MemberSpec) error {
	dataDir := filepath.Join(p.dataDir(), spec.Name)
	return p.run(ctx, "start", spec.Name, []string{
		"HANDOVER_PEER_URL=" + spec.PeerURL,
		"HANDOVER_CLIENT_URL=" + spec.ClientURL,
		"HANDOVER_INITIAL_CLUSTER=" + spec.InitialCluster,
		"HANDOVER_INITIAL_CLUSTER_STATE=existing",
		"HANDOVER_DATA_DIR=" + dataDir,
		"HANDOVER_ETCD_FLAGS=" + strings.Join(EtcdFlags(spec, dataDir), " "),
	})
}

// Stop runs the command with HANDOVER_ACTION=stop.
func (p *Exec) Stop(ctx context.Context, name string) error {
	return p.run(ctx, "stop", name, []string{"HANDOVER_DATA_DIR=" + filepath.Join(p.dataDir(), name)})
}

func (p *Exec) dataDir() string {
	if p.DataDir == "" {
		return "/var/lib/etcd"
	}
	return p.DataDir
}

func (p *Exec) run(ctx context.Context, action, name string, env []string) error {
	if len(p.Command) == 0 {
		return fmt.Errorf("%w: Exec.Command is empty", ErrInvalidConfig)
	}
	env = append([]string{"HANDOVER_ACTION=" + action, "HANDOVER_MEMBER_NAME=" + name}, env...)
	if err := RunCommand(ctx, p.Command, env); err != nil {
		return fmt.Errorf("exec provisioner %s member %q: %w", action, name, err)
	}
	return nil
}

// RunCommand runs argv with env added to this process's environment and
// returns nil on exit 0, else an error carrying the exit status and the
// command's last five stderr lines (joined by " | ").
func RunCommand(ctx context.Context, argv, env []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // G204: the operator's own command
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) > 5 {
			lines = lines[len(lines)-5:]
		}
		return fmt.Errorf("%w: %s", err, strings.Join(lines, " | "))
	}
	return nil
}
