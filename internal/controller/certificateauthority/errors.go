package certificateauthority

import "errors"

var (
	// ErrBadInput wraps every validation failure of a CertificateAuthority:
	// the message names the object and the field (e.g.
	// spec.source.secretRef.name) and never carries key material.
	ErrBadInput = errors.New("invalid certificate authority")
	// ErrNotLeader is returned by Workers.Start before the manager started the
	// workers runnable (the replica is not the leader yet).
	ErrNotLeader = errors.New("rotation workers not started (not the leader yet)")
	// ErrNoPrevious is recorded when a revert is asked for but the managed
	// copy holds no previous CA to go back to.
	ErrNoPrevious = errors.New("no previous CA to revert to")
)
