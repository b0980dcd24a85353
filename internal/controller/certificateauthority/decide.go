package certificateauthority

import (
	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/rotation"
)

// Action is what Reconcile does next for one CertificateAuthority.
type Action string

// Actions Decide returns.
const (
	// ActionNone: nothing to do (steady, or a rotation runs and needs nothing).
	ActionNone Action = "None"
	// ActionFirstPublish: no CA yet: create it (generate) or copy the root
	// (secretRef), then publish bundle [active] and leaves; no rotation.
	ActionFirstPublish Action = "FirstPublish"
	// ActionRotate: start a rotation to a new CA (Decision.Trigger says why).
	ActionRotate Action = "Rotate"
	// ActionBegin: the managed copy already holds a new active CA that was
	// never rotated in (a crash between the copy write and the rotation
	// start): start its rotation.
	ActionBegin Action = "Begin"
	// ActionResume: a rotation is recorded in status.rotation without an
	// outcome and no worker runs it: start a worker that resumes it.
	ActionResume Action = "Resume"
	// ActionAbort: revert during a rotation before its point of no return:
	// abort it; the plan rolls back.
	ActionAbort Action = "Abort"
	// ActionRevert: revert with no rotation running: rotate back to the
	// previous CA (make-before-break again).
	ActionRevert Action = "Revert"
	// ActionFinish: status.rotation ended Succeeded or RolledBack but the
	// managed copy does not record it yet: record it.
	ActionFinish Action = "Finish"
	// ActionRevertNothing: revert asked for, but there is no previous CA.
	ActionRevertNothing Action = "RevertNothing"
	// ActionRepublish: manual rotate of a secretRef source whose root did not
	// change: publish the active bundle and fresh leaves again.
	ActionRepublish Action = "Republish"
	// ActionAdoptSource: the root changed back to the active CA: record it.
	ActionAdoptSource Action = "AdoptSource"
	// ActionModeSwitch: spec.mode differs from the mode the targets were
	// last published in; bundle [active] and leaves from the active CA are
	// right in both modes, so the switch only records the mode.
	ActionModeSwitch Action = "ModeSwitch"
)

// Triggers recorded in status.rotation.trigger.
const (
	TriggerRenewal       = "Renewal"
	TriggerSourceChanged = "SourceChanged"
	TriggerManual        = "Manual"
	TriggerRevert        = "Revert"
)

// Observed is everything Decide looks at: the spec, the managed copy's
// bookkeeping, the annotations and status.rotation. Fingerprints are
// trust.Fingerprint values ("" = none).
type Observed struct {
	Mode     v1alpha1.Mode
	Generate bool
	// SourceFP is the external root's fingerprint (secretRef); "" for generate.
	SourceFP string
	// ActiveFP and PreviousFP are the managed copy's CAs ("" when absent).
	ActiveFP, PreviousFP string
	// PublishedFP is the CA every target converged to last.
	PublishedFP string
	// PublishedMode is the mode the targets were last published in.
	PublishedMode v1alpha1.Mode
	// SourceSeenFP is the root fingerprint handover last acted on.
	SourceSeenFP string
	// RenewalDue: generate and now >= active notAfter - renewBefore.
	RenewalDue bool
	// RotateToken/RevertToken are the annotation values; *Handled the last
	// values acted on.
	RotateToken, RotateHandled string
	RevertToken, RevertHandled string
	Rotation                   *v1alpha1.RotationStatus
	WorkerRunning              bool
}

// Decision is Decide's answer.
type Decision struct {
	Action Action
	// Trigger is why a rotation starts (Action Rotate/Revert).
	Trigger string
	// Queued describes a trigger that waits for the running rotation to
	// end (status.queued); "" when none.
	Queued string
}

// Decide is the trigger rule. It is pure: the same Observed gives the same
// Decision. Order: no CA → first publish; an unfinished rotation → resume
// it (a revert before its point of no return aborts it; any other trigger
// is queued, never interleaved); an adopted CA never rotated in → begin;
// then revert, root change, manual rotate, renewal, mode switch.
func Decide(o Observed) Decision {
	if o.ActiveFP == "" || o.PublishedFP == "" {
		return Decision{Action: ActionFirstPublish}
	}
	rot := o.Rotation
	open := rot != nil && rot.Outcome == "" && rot.Target == o.ActiveFP
	if open {
		if o.RevertToken != "" && o.RevertToken != o.RevertHandled && Abortable(rot) {
			return Decision{Action: ActionAbort}
		}
		d := Decision{Action: ActionNone, Queued: pending(o)}
		if !o.WorkerRunning {
			d.Action = ActionResume
		}
		return d
	}
	if o.WorkerRunning {
		// The plan ended; its worker still records the outcome.
		return Decision{Action: ActionNone, Queued: pending(o)}
	}
	if o.ActiveFP != o.PublishedFP {
		if rot != nil && rot.Target == o.ActiveFP && rot.Outcome != string(plan.OutcomeFailed) {
			// Succeeded or RolledBack, but the outcome never reached the
			// managed copy (the worker stopped before it wrote it).
			return Decision{Action: ActionFinish}
		}
		if rot != nil && rot.Target == o.ActiveFP {
			// Ended Failed without converging: only a human moves on,
			// by reverting or by retrying (a new rotate token).
			switch {
			case o.RevertToken != "" && o.RevertToken != o.RevertHandled && o.PreviousFP != "":
				return Decision{Action: ActionRevert, Trigger: TriggerRevert}
			case o.RotateToken != "" && o.RotateToken != o.RotateHandled:
				return Decision{Action: ActionBegin, Trigger: TriggerManual}
			}
			return Decision{Action: ActionNone}
		}
		return Decision{Action: ActionBegin}
	}
	if o.RevertToken != "" && o.RevertToken != o.RevertHandled {
		if o.PreviousFP == "" {
			return Decision{Action: ActionRevertNothing}
		}
		return Decision{Action: ActionRevert, Trigger: TriggerRevert}
	}
	if !o.Generate && o.SourceFP != "" && o.SourceFP != o.SourceSeenFP {
		if o.SourceFP == o.ActiveFP {
			return Decision{Action: ActionAdoptSource}
		}
		return Decision{Action: ActionRotate, Trigger: TriggerSourceChanged}
	}
	if o.RotateToken != "" && o.RotateToken != o.RotateHandled {
		if o.Generate {
			return Decision{Action: ActionRotate, Trigger: TriggerManual}
		}
		return Decision{Action: ActionRepublish, Trigger: TriggerManual}
	}
	if o.Generate && o.RenewalDue {
		return Decision{Action: ActionRotate, Trigger: TriggerRenewal}
	}
	if o.PublishedMode != "" && o.Mode != o.PublishedMode {
		return Decision{Action: ActionModeSwitch}
	}
	return Decision{Action: ActionNone}
}

// pending describes the triggers that wait for the running rotation.
func pending(o Observed) string {
	switch {
	case o.RevertToken != "" && o.RevertToken != o.RevertHandled && o.Rotation != nil && o.Rotation.RollingBack:
		return "" // the revert is the rollback in progress
	case o.RevertToken != "" && o.RevertToken != o.RevertHandled:
		return TriggerRevert + " (after the point of no return; rotates back when this rotation ends)"
	case !o.Generate && o.SourceFP != "" && o.SourceFP != o.SourceSeenFP && o.SourceFP != o.ActiveFP:
		return o.SourceFP
	case o.RotateToken != "" && o.RotateToken != o.RotateHandled:
		return TriggerManual + " " + o.RotateToken
	case o.Generate && o.RenewalDue:
		return TriggerRenewal
	}
	return ""
}

// Abortable reports whether rot can still be aborted by a revert: it has
// not ended, is not already rolling back, its plan has reversible steps and
// the step at the plan's point of no return (rotation.PointOfNoReturn of
// its strategy; staged when unset) has not started. The checkpoint's steps
// are in plan order; none saved yet means the plan has not started.
func Abortable(rot *v1alpha1.RotationStatus) bool {
	if rot == nil || rot.Outcome != "" || rot.RollingBack {
		return false
	}
	strategy := rotation.Strategy(rot.Strategy)
	if strategy == "" {
		strategy = rotation.StrategyStaged
	}
	pnr, err := rotation.PointOfNoReturn(strategy)
	if err != nil || pnr == 0 {
		return false
	}
	if len(rot.Steps) <= pnr {
		return len(rot.Steps) == 0
	}
	return rot.Steps[pnr].Phase == string(plan.StepPending)
}

// Strategy picks the plan of a rotation: staged (make-before-break) unless
// the object is, and was last published, in Legacy mode; a rotation that
// crosses a mode switch is staged, so the switch never breaks mTLS. With no
// consumers to verify the staged gates cannot pass (rotation.Gate fails on
// an empty fleet), so such a CA rotates atomically.
func Strategy(mode, publishedMode v1alpha1.Mode, consumers int) rotation.Strategy {
	if consumers == 0 || (mode == v1alpha1.ModeLegacy && publishedMode == v1alpha1.ModeLegacy) {
		return rotation.StrategyAtomic
	}
	return rotation.StrategyStaged
}
