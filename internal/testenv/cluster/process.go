package cluster

import (
	"context"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/proc"
)

// Process identifies one started component (proc.Handle: PID plus start
// time, so Stop never signals a reused PID). Each process leads its own
// process group.
type Process = proc.Handle

// startProcess starts path with args, stdout and stderr appended to logPath
// (proc.Start; detach as proc.Spec.Detach).
func startProcess(name, path string, args []string, logPath string, detach bool) (Process, error) {
	return proc.Start(proc.Spec{Name: name, Path: path, Args: args, Log: logPath, Detach: detach})
}

// Running reports whether p is still alive (proc.Running).
func Running(p Process) bool { return proc.Running(p) }

// StopProcesses stops procs in reverse order: SIGTERM to each process group,
// then SIGKILL after 10 s (proc.StopAll). It returns an error wrapping
// ErrStillRunning naming every process that survived.
func StopProcesses(ctx context.Context, clk clock.Clock, procs []Process) error {
	return proc.StopAll(ctx, clk, procs)
}

// tail returns up to the last n lines of the file at path ("" if unreadable).
func tail(path string, n int) string { return proc.Tail(path, n) }
