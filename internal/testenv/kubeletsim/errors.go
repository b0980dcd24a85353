package kubeletsim

import "errors"

var (
	// ErrInvalidOptions is returned by Start for a bad Options field; the
	// message names the field.
	ErrInvalidOptions = errors.New("invalid kubeletsim options")
	// ErrUnknownService is returned for a service name never added.
	ErrUnknownService = errors.New("unknown service")
	// ErrDuplicateService is returned by AddService for a name already added.
	ErrDuplicateService = errors.New("service already exists")
	// ErrMissingSource is returned when a volume's Secret or ConfigMap (or one
	// of its items) does not exist yet; the kubelet keeps the pod in
	// ContainerCreating then, the simulator keeps retrying on every change.
	ErrMissingSource = errors.New("volume source missing")
	// ErrClosed is returned by operations on a closed simulator.
	ErrClosed = errors.New("kubeletsim closed")
)
