package etcdprobe

import "errors"

var (
	// ErrStaleRead means: a linearizable read did not find a write that was
	// acknowledged before the read started.
	ErrStaleRead = errors.New("linearizable read missed an acknowledged write")
	// ErrInvalidConfig means: a Config field is missing or malformed.
	ErrInvalidConfig = errors.New("invalid etcd probe config")
)
