package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/utils/clock"
)

// Process identifies one started component. PID plus StartTime (field 22 of
// /proc/<pid>/stat, in clock ticks since boot; proc(5)) identify the process
// even after the PID is reused, so Stop never signals a stranger. Each process
// leads its own process group (PGID == PID).
type Process struct {
	Name      string `json:"name"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
	Path      string `json:"path"`
	Log       string `json:"log"`
}

// startProcess starts path with args, stdout and stderr appended to logPath.
// With detach the process gets its own session (it survives this process and
// its terminal); without, it gets its own process group and SIGKILL when the
// starting thread dies (PR_SET_PDEATHSIG), so a crashed test leaks nothing.
func startProcess(name, path string, args []string, logPath string, detach bool) (Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Process{}, fmt.Errorf("open log of %s: %w", name, err)
	}
	// The child holds its own copy of the descriptor after Start.
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(path, args...) //nolint:gosec // G204: path is a binary in the configured binaries directory; args are built by this package
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = os.Environ()
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("start %s: %w", name, err)
	}
	p := Process{Name: name, PID: cmd.Process.Pid, Path: path, Log: logPath}
	st, err := readStat(p.PID)
	if err != nil {
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		_ = cmd.Wait()
		return Process{}, fmt.Errorf("identify %s (pid %d): %w", name, p.PID, err)
	}
	p.StartTime = st.startTime
	if detach {
		// The process outlives us; init adopts it when we exit.
		_ = cmd.Process.Release()
	} else {
		// Reap it when it exits so it never lingers as a zombie.
		go func() { _ = cmd.Wait() }()
	}
	return p, nil
}

type procStat struct {
	state     byte
	startTime uint64
}

// readStat parses /proc/<pid>/stat (proc(5)): the command name is in
// parentheses and may contain spaces, so fields are counted after the last ')'.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat starttime: %w", pid, err)
	}
	return procStat{state: fields[0][0], startTime: start}, nil
}

// Running reports whether p is still alive: its PID exists, carries the same
// start time (not a reused PID), and is not a zombie (Z) or dead (X). A zombie
// has exited and holds no memory, ports or files; it only awaits its parent's
// wait(2).
func Running(p Process) bool {
	st, err := readStat(p.PID)
	if err != nil {
		return false
	}
	return st.startTime == p.StartTime && st.state != 'Z' && st.state != 'X'
}

// Grace periods for stopping a process group.
const (
	termGrace = 10 * time.Second
	killGrace = 5 * time.Second
	pollEvery = 50 * time.Millisecond
)

// StopProcesses stops procs in reverse order: SIGTERM to each process group,
// then SIGKILL after 10 s. Processes that are not Running are skipped, so it
// is safe to call twice and safe after a crash. It returns an error wrapping
// ErrStillRunning naming every process that survived SIGKILL for 5 s; the
// context only bounds the waiting, never skips the signals.
func StopProcesses(ctx context.Context, clk clock.Clock, procs []Process) error {
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := stopOne(ctx, clk, procs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func stopOne(ctx context.Context, clk clock.Clock, p Process) error {
	if !Running(p) {
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	if waitGone(ctx, clk, p, termGrace) {
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	if waitGone(context.WithoutCancel(ctx), clk, p, killGrace) {
		return nil
	}
	return fmt.Errorf("%w: %s (pid %d)", ErrStillRunning, p.Name, p.PID)
}

func waitGone(ctx context.Context, clk clock.Clock, p Process, limit time.Duration) bool {
	deadline := clk.Now().Add(limit)
	for Running(p) {
		if clk.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return !Running(p)
		case <-clk.After(pollEvery):
		}
	}
	return true
}

// tail returns up to the last n lines of the file at path ("" if unreadable).
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
