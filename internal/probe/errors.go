package probe

import (
	"errors"
	"fmt"
)

// Sentinel errors. Configuration errors name the field; callers match them
// with errors.Is.
var (
	// ErrInvalidConfig is wrapped by every configuration error (a Runner,
	// MTLS or HTTP field that is missing or out of range).
	ErrInvalidConfig = errors.New("invalid probe configuration")
	// ErrNoResponse means the server closed the connection before answering
	// the probe's request.
	ErrNoResponse = errors.New("no response")
)

// StatusError is returned by the HTTP probe for a non-2xx response. Classify
// maps it to "http <code>".
type StatusError struct {
	Code   int    // HTTP status code
	Status string // e.g. "503 Service Unavailable"
}

func (e *StatusError) Error() string { return "unexpected http status " + e.Status }

func configError(object, field, problem string) error {
	return fmt.Errorf("%w: %s.%s %s", ErrInvalidConfig, object, field, problem)
}
