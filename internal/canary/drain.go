package canary

import "github.com/handover-dev/handover/api/v1alpha1"

// DrainStep is what Relabel does next to one object that must change owner.
type DrainStep int

const (
	// DrainMove changes the owner now (and clears the drain labels).
	DrainMove DrainStep = iota
	// DrainMark labels the object LabelDrain=<to> and waits.
	DrainMark
	// DrainWait waits: marked, not acknowledged yet.
	DrainWait
)

// NextDrainStep is the drain handshake's rule for an object with labels that
// must go from revision from to revision to. Without a handshake (drain
// false: the old owner does not acknowledge, or a revert, which never
// waits) it moves at once. With it, it moves only once the object carries
// LabelDrain=to and LabelDrainAck=from (the old owner let go of exactly this
// hand-over); an object not yet marked for to — never marked, or marked for
// another revision — is marked; a marked one waits. Pure.
func NextDrainStep(labels map[string]string, from, to string, drain bool) DrainStep {
	if !drain {
		return DrainMove
	}
	if labels[v1alpha1.LabelDrain] != to {
		return DrainMark
	}
	if labels[v1alpha1.LabelDrainAck] == from {
		return DrainMove
	}
	return DrainWait
}
