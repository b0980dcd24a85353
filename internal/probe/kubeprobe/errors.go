package kubeprobe

import "errors"

var (
	// ErrInvalidConfig means a Config field is missing or bad (named).
	ErrInvalidConfig = errors.New("invalid kube probe config")
	// ErrStatus means the apiserver answered with an unexpected HTTP status.
	ErrStatus = errors.New("unexpected http status")
)
