package etcd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/handover-dev/handover/internal/proc"
)

// Process runs each member as an etcd binary in its own process group, so
// the members outlive the handover process (a killed or interrupted run is
// resumed by the next one). Per member it keeps BaseDir/<name>/ (data),
// BaseDir/<name>.pid and BaseDir/<name>.log.
type Process struct {
	Binary    string   // path of the etcd binary ("" = "etcd" from PATH)
	BaseDir   string   // required
	ExtraArgs []string // appended to the generated flags
}

// Kind returns "process".
func (p *Process) Kind() string { return "process" }

func (p *Process) binary() string {
	if p.Binary == "" {
		return "etcd"
	}
	return p.Binary
}

var versionRE = regexp.MustCompile(`etcd Version:\s*v?([0-9]+\.[0-9]+\.[0-9]+\S*)`)

// Version runs `etcd --version` and returns the "etcd Version:" field.
func (p *Process) Version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, p.binary(), "--version").Output() //nolint:gosec // G204: the operator chose the binary
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", p.binary(), err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version: no \"etcd Version:\" line in %q", p.binary(), firstLine(out))
	}
	return string(m[1]), nil
}

// dir is the supervisor of the members' processes.
func (p *Process) dir() proc.Dir { return proc.Dir{Base: p.BaseDir} }

// identity is what a member's command line carries (as EtcdFlags writes
// it): --name and --data-dir of this BaseDir; it guards the pid file against
// PID reuse and finds an orphan to adopt.
func (p *Process) identity(name string) []string {
	return []string{"--name=" + name, "--data-dir=" + filepath.Clean(filepath.Join(p.BaseDir, name))}
}

// Start launches the member unless its pid file names a live process of
// this member (or an orphan of it is found and adopted: see proc.Dir). It
// waits up to 1 s for an early exit (bad flags, port in use) and returns the
// log tail in the error then.
func (p *Process) Start(ctx context.Context, spec MemberSpec) error {
	if p.BaseDir == "" {
		return fmt.Errorf("%w: Process.BaseDir is empty", ErrInvalidConfig)
	}
	if _, ok := p.alive(spec.Name); ok {
		return nil
	}
	if err := os.MkdirAll(p.BaseDir, 0o700); err != nil {
		return err
	}
	metrics, err := metricsURL()
	if err != nil {
		return err
	}
	if err := proc.WriteFileAtomic(p.metricsPath(spec.Name), []byte(metrics+"\n")); err != nil {
		return err
	}
	args := append(EtcdFlags(spec, filepath.Join(p.BaseDir, spec.Name)), "--listen-metrics-urls="+metrics)
	args = append(args, p.ExtraArgs...)
	if _, _, err := p.dir().Start(ctx, spec.Name, p.binary(), args, p.identity(spec.Name)...); err != nil {
		if errors.Is(err, proc.ErrExited) {
			return fmt.Errorf("member %q exited at start (%w)", spec.Name, err)
		}
		return fmt.Errorf("start %s for member %q: %w", p.binary(), spec.Name, err)
	}
	return nil
}

// Stop sends SIGTERM to the member's process (SIGKILL after 10 s), then
// deletes its data directory and pid file.
func (p *Process) Stop(ctx context.Context, name string) error {
	if err := p.dir().Stop(ctx, name, 0, p.identity(name)...); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(p.BaseDir, name)); err != nil {
		return err
	}
	if err := os.Remove(p.metricsPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Running reports the pid of the member's live process, if any.
func (p *Process) Running(name string) (int, bool) { return p.alive(name) }

// metricsURL picks the member's metrics address on 127.0.0.2 when that
// loopback address exists (Linux routes all of 127/8 to lo), so it can never
// take a 127.0.0.1 port that a target was given but has not bound yet;
// else on 127.0.0.1.
func metricsURL() (string, error) {
	if us, err := freeURLs("127.0.0.2", 1); err == nil {
		return us[0], nil
	}
	return FreeLoopbackURL()
}

func (p *Process) metricsPath(name string) string { return filepath.Join(p.BaseDir, name+".metrics") }

// Progress scrapes the member's metrics URL for its applied index
// (etcd_server_proposals_applied_total) and database size
// (etcd_mvcc_db_total_size_in_bytes) (ProgressReporter).
func (p *Process) Progress(ctx context.Context, name string) (uint64, int64, error) {
	b, err := os.ReadFile(p.metricsPath(name))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %q: %w", ErrNotRunning, name, err)
	}
	return scrapeProgress(ctx, strings.TrimSpace(string(b))+"/metrics")
}

// alive returns the pid of this member's live process (proc.Dir.Alive:
// the pid file checked against the member's flags, else an adopted orphan).
func (p *Process) alive(name string) (int, bool) {
	h, ok := p.dir().Alive(name, p.identity(name)...)
	return h.PID, ok
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}
