package fleet

import (
	"errors"

	"github.com/handover-dev/handover/internal/rotation"
)

var (
	// ErrInvalidConfig is returned by Start for a Config field out of range;
	// the message names the field.
	ErrInvalidConfig = errors.New("invalid fleet config")
	// ErrInvalidPayload is returned by Volume.Write for a file name that is
	// empty, contains a slash, or starts with "..".
	ErrInvalidPayload = errors.New("invalid volume payload")
	// ErrNoData is returned by Volume.Read before the first Write.
	ErrNoData = errors.New("volume has no ..data yet")
	// ErrTorn is returned by Volume.Read when the generation kept changing
	// under the reader (more swaps than retries); callers retry.
	ErrTorn = errors.New("volume changed while reading")
	// ErrUnknownConsumer names a consumer the fleet does not run.
	ErrUnknownConsumer = errors.New("unknown consumer")
	// ErrNotAccepted is wrapped by the verification handshakes when a
	// consumer rejected the probe certificate (a TLS alert or a certificate
	// verification error) or presented a leaf that does not chain to the
	// expected CA. It is rotation.ErrRejected, so plans can tell a rejection
	// from a transient failure (a replica restarting, a timeout).
	ErrNotAccepted = rotation.ErrRejected
	// ErrNoReplica is returned when a server has no ready replica to verify.
	ErrNoReplica = errors.New("no ready replica")
	// ErrClosed is returned by operations on a closed fleet.
	ErrClosed = errors.New("fleet closed")
	// ErrBadResponse is returned by an attempt whose response was not "pong".
	ErrBadResponse = errors.New("unexpected response")
)
