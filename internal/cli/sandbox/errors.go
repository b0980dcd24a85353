package sandbox

import "errors"

var (
	// ErrAlreadyUp means the state directory records a running sandbox.
	ErrAlreadyUp = errors.New("sandbox already up")
	// ErrNotUp means the state directory records no running sandbox.
	ErrNotUp = errors.New("sandbox is not up")
	// ErrNoStateDir means no --state-dir was given and none could be derived.
	ErrNoStateDir = errors.New("no state directory: set --state-dir, XDG_STATE_HOME or HOME")
)
