package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// Start launches the member unless its pid file names a live process of
// this member. It waits up to 1 s for an early exit (bad flags, port in
// use) and returns the log tail in the error then.
func (p *Process) Start(ctx context.Context, spec MemberSpec) error {
	if p.BaseDir == "" {
		return fmt.Errorf("%w: Process.BaseDir is empty", ErrInvalidConfig)
	}
	if pid, ok := p.alive(spec.Name); ok && pid > 0 {
		return nil
	}
	if err := os.MkdirAll(p.BaseDir, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(p.BaseDir, spec.Name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	metrics, err := metricsURL()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p.metricsPath(spec.Name), []byte(metrics+"\n")); err != nil {
		return err
	}
	args := append(EtcdFlags(spec, filepath.Join(p.BaseDir, spec.Name)), "--listen-metrics-urls="+metrics)
	args = append(args, p.ExtraArgs...)
	cmd := exec.Command(p.binary(), args...) //nolint:gosec // the operator chose the binary
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s for member %q: %w", p.binary(), spec.Name, err)
	}
	if err := writeFileAtomic(p.pidPath(spec.Name), []byte(strconv.Itoa(cmd.Process.Pid)+"\n")); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reap; the member outlives us otherwise
	select {
	case err := <-exited:
		return fmt.Errorf("member %q exited at start (%w); log %s:\n%s", spec.Name, err, logPath, tail(logPath, 10))
	case <-time.After(time.Second):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop sends SIGTERM to the member's process (SIGKILL after 10 s), then
// deletes its data directory and pid file.
func (p *Process) Stop(ctx context.Context, name string) error {
	if pid, ok := p.alive(name); ok {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for processAlive(pid) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := os.RemoveAll(filepath.Join(p.BaseDir, name)); err != nil {
		return err
	}
	for _, f := range []string{p.pidPath(name), p.metricsPath(name)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
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

func (p *Process) pidPath(name string) string { return filepath.Join(p.BaseDir, name+".pid") }

// alive returns the pid of this member's live process: the one its pid file
// names (checked against pid reuse by the --name flag in its command line),
// else an orphan found by command line (--name and --data-dir of this
// BaseDir), which it adopts by writing the pid file. An orphan is what a
// SIGKILL between starting the process and writing its pid file leaves: it
// holds the member's ports, so starting another would fail to bind.
func (p *Process) alive(name string) (int, bool) {
	if b, err := os.ReadFile(p.pidPath(name)); err == nil {
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 0 && processAlive(pid) {
			if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil ||
				bytes.Contains(cl, []byte("--name="+name+"\x00")) {
				return pid, true
			}
		}
	}
	pid, ok := findMember(name, filepath.Join(p.BaseDir, name))
	if !ok {
		return 0, false
	}
	if err := writeFileAtomic(p.pidPath(name), []byte(strconv.Itoa(pid)+"\n")); err != nil {
		return 0, false
	}
	return pid, true
}

// findMember scans /proc for a live process whose command line carries
// --name=<name> and --data-dir=<dataDir> (as EtcdFlags writes them). It
// returns false when there is none or /proc cannot be read.
func findMember(name, dataDir string) (int, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	wantName := []byte("--name=" + name + "\x00")
	wantDir := []byte("--data-dir=" + filepath.Clean(dataDir) + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cl, wantName) || !bytes.Contains(cl, wantDir) {
			continue
		}
		if processAlive(pid) {
			return pid, true
		}
	}
	return 0, false
}

// processAlive: signal 0 succeeds and the process is not a zombie.
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	if i := bytes.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) {
		return st[i+2] != 'Z'
	}
	return true
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}
