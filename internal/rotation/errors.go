package rotation

import "errors"

var (
	// ErrRejected is wrapped by Backend verifications when a consumer
	// rejected the probe certificate or presented a leaf from another CA (as
	// opposed to a transient error such as a pod that is restarting).
	ErrRejected = errors.New("rejected by consumer")
	// ErrInvalidSpec is returned by Build for a bad Spec; the message names
	// the field.
	ErrInvalidSpec = errors.New("invalid rotation spec")
	// ErrNotConverged is returned (and retried by the engine) by a step
	// whose rolling restart left a load-once consumer still lagging: its
	// mount had not changed yet when the replacement started.
	ErrNotConverged = errors.New("load-once consumer not converged after restart")
	// ErrUnknownStrategy is returned by ParseStrategy and Build.
	ErrUnknownStrategy = errors.New("unknown strategy")
)
