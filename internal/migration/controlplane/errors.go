package controlplane

import "errors"

var (
	// ErrInvalidConfig means a Config or spec field is missing or bad (named).
	ErrInvalidConfig = errors.New("invalid control-plane migration config")
	// ErrNotReady means an apiserver did not answer /readyz with 200.
	ErrNotReady = errors.New("apiserver not ready")
)
