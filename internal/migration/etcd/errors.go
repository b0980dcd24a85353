package etcd

import "errors"

var (
	// ErrInvalidTarget means: a target's name or URL is malformed or clashes with
	// another target or an existing member.
	ErrInvalidTarget = errors.New("invalid target")
	// ErrInvalidConfig means: a Config field is missing or out of range.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrPreflight means: the cluster is not in a state the migration may start
	// from; the error lists every reason.
	ErrPreflight = errors.New("preflight refused")
	// ErrUnsafe means: a membership change would leave fewer healthy voters than
	// the quorum of the resulting membership.
	ErrUnsafe = errors.New("membership change is unsafe")
	// ErrUnreachable means: an endpoint did not answer.
	ErrUnreachable = errors.New("endpoint unreachable")
	// ErrNoLeader means: no member reports a leader.
	ErrNoLeader = errors.New("cluster has no leader")
	// ErrNotRunning means: a provisioner was asked about a member it does not run.
	ErrNotRunning = errors.New("member not running")
	// ErrNotDrained means: a leaving member still serves client requests after
	// the drain timeout; it was not removed.
	ErrNotDrained = errors.New("member's clients did not drain")
)
