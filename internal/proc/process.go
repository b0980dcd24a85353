package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"k8s.io/utils/clock"
)

// Handle identifies one started process. PID plus StartTime (field 22 of
// /proc/<pid>/stat, clock ticks since boot; proc(5)) identify it even after
// the PID is reused, so Stop never signals a stranger.
type Handle struct {
	Name      string `json:"name"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
	Path      string `json:"path"`
	Log       string `json:"log"`
}

// Spec is what Start runs.
type Spec struct {
	Name string   // label for errors and Handle.Name
	Path string   // the binary
	Args []string // its arguments
	Env  []string // nil = this process's environment
	// Log is the file stdout and stderr are appended to (created 0600).
	Log string
	// Detach gives the process its own session: it survives this process
	// and its terminal. Without, it gets its own process group and SIGKILL
	// when the starting thread dies (PR_SET_PDEATHSIG), so a crashed test
	// leaks nothing.
	Detach bool
}

// Identify returns the Handle of the live process pid (Name, Path, Log empty).
func Identify(pid int) (Handle, error) {
	st, err := readStat(pid)
	if err != nil {
		return Handle{}, err
	}
	return Handle{PID: pid, StartTime: st.startTime}, nil
}

// Start starts s and returns its Handle. The process leads its own process
// group (PGID == PID) and is reaped by a goroutine when it exits.
func Start(s Spec) (Handle, error) {
	if s.Path == "" || s.Log == "" {
		return Handle{}, fmt.Errorf("%w: %q: Path and Log are required", ErrInvalidSpec, s.Name)
	}
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Handle{}, fmt.Errorf("open log of %s: %w", s.Name, err)
	}
	// The child holds its own copy of the descriptor after Start.
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(s.Path, s.Args...) //nolint:gosec // G204: the caller chose the binary and built the args
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = s.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	if s.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return Handle{}, fmt.Errorf("start %s: %w", s.Name, err)
	}
	h, err := Identify(cmd.Process.Pid)
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return Handle{}, fmt.Errorf("identify %s (pid %d): %w", s.Name, cmd.Process.Pid, err)
	}
	h.Name, h.Path, h.Log = s.Name, s.Path, s.Log
	// Reap it when it exits so it never lingers as a zombie; a detached
	// process is adopted by init when this process exits first.
	go func() { _ = cmd.Wait() }()
	return h, nil
}

// Running reports whether h is still alive: its PID exists, carries the same
// start time (not a reused PID), and is not a zombie or dead. A zombie has
// exited and holds no memory, ports or files.
func Running(h Handle) bool {
	st, err := readStat(h.PID)
	if err != nil {
		return false
	}
	return st.startTime == h.StartTime && st.alive()
}

// Grace periods of Stop.
const (
	DefaultTermGrace = 10 * time.Second
	killGrace        = 5 * time.Second
	pollEvery        = 50 * time.Millisecond
)

// Stop sends SIGTERM to h (to its process group when it leads one), waits
// up to grace (0 = DefaultTermGrace) for it to end, then SIGKILL and up to
// 5 s more. A process that is not Running is skipped, so Stop is safe to call
// twice. It returns an error wrapping ErrStillRunning when the process
// survived; ctx only bounds the waiting, it never skips the signals.
func Stop(ctx context.Context, clk clock.Clock, h Handle, grace time.Duration) error {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if grace == 0 {
		grace = DefaultTermGrace
	}
	if !Running(h) {
		return nil
	}
	signal(h, syscall.SIGTERM)
	if waitGone(ctx, clk, h, grace) {
		return nil
	}
	signal(h, syscall.SIGKILL)
	if waitGone(context.WithoutCancel(ctx), clk, h, killGrace) {
		return nil
	}
	return fmt.Errorf("%w: %s (pid %d)", ErrStillRunning, h.Name, h.PID)
}

// StopAll stops hs in reverse order (see Stop, default grace) and joins the
// errors.
func StopAll(ctx context.Context, clk clock.Clock, hs []Handle) error {
	var errs []error
	for i := len(hs) - 1; i >= 0; i-- {
		if err := Stop(ctx, clk, hs[i], 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// signal sends sig to h's process group when h leads one, else to h alone
// (an adopted orphan may share its group with others).
func signal(h Handle, sig syscall.Signal) {
	if st, err := readStat(h.PID); err == nil && st.pgrp == h.PID {
		_ = syscall.Kill(-h.PID, sig)
		return
	}
	_ = syscall.Kill(h.PID, sig)
}

// Signal sends sig to h (its process group when it leads one) if h is
// Running; used for SIGKILL fault injection in tests and demos.
func Signal(h Handle, sig syscall.Signal) {
	if Running(h) {
		signal(h, sig)
	}
}

func waitGone(ctx context.Context, clk clock.Clock, h Handle, limit time.Duration) bool {
	deadline := clk.Now().Add(limit)
	for Running(h) {
		if clk.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return !Running(h)
		case <-clk.After(pollEvery):
		}
	}
	return true
}
