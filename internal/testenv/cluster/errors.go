package cluster

import (
	"errors"

	"github.com/handover-dev/handover/internal/proc"
)

var (
	// ErrBinariesMissing means a required binary is absent from the binaries
	// directory; the fix is `make k8s-binaries`.
	ErrBinariesMissing = errors.New("kubernetes binaries missing")
	// ErrProcessExited means a component exited before it became ready.
	ErrProcessExited = errors.New("component exited")
	// ErrStillRunning means a process survived SIGTERM and SIGKILL to its
	// process group (the supervisor's proc.ErrStillRunning).
	ErrStillRunning = proc.ErrStillRunning
	// ErrBadOptions means Options failed validation; nothing was started.
	ErrBadOptions = errors.New("invalid cluster options")

	// errPortTaken marks a start that failed because another process bound
	// one of our ports first; Start retries it with new ports.
	errPortTaken = errors.New("address already in use")
)
