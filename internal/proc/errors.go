package proc

import "errors"

var (
	// ErrStillRunning means a process survived SIGTERM and SIGKILL.
	ErrStillRunning = errors.New("process still running")
	// ErrExited means a process exited during its start-up grace period.
	ErrExited = errors.New("process exited at start")
	// ErrInvalidSpec means a Spec or Dir field is missing; nothing was started.
	ErrInvalidSpec = errors.New("invalid process spec")
)
