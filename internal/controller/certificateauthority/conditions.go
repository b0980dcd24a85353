package certificateauthority

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
)

// Condition reasons other than bad input.
const (
	ReasonAsExpected         = "AsExpected"
	ReasonConverged          = "Converged"
	ReasonIdle               = "Idle"
	ReasonRotationRunning    = "RotationRunning"
	ReasonRotationFailed     = "RotationFailed"
	ReasonRotationRolledBack = "RotationRolledBack"
	ReasonNotPublished       = "NotPublished"
	ReasonDegraded           = "Degraded"
)

// ConditionInput is what the conditions are computed from.
type ConditionInput struct {
	// Generation is metadata.generation (becomes observedGeneration).
	Generation int64
	// Problem is the bad-input finding, nil when the spec is usable.
	Problem *Problem
	// Rotation is status.rotation (nil when none ever ran).
	Rotation *v1alpha1.RotationStatus
	// Converged: the targets hold the active CA (published == active).
	Converged bool
	// Consumers is the convergence text ("3/4 consumers on generation 5").
	Consumers string
}

// Conditions returns the Ready, Rotating and Degraded conditions, each with
// observedGeneration = in.Generation and LastTransitionTime = now (callers
// merge with MergeConditions, which keeps the old time when the status did
// not change). Degraded is True on bad input (the Problem's reason, message
// "field: message") and on a rotation that ended Failed or RolledBack;
// Rotating is True while status.rotation has no outcome; Ready is True only
// when neither holds and the targets converged. Pure.
func Conditions(in ConditionInput, now time.Time) []metav1.Condition {
	t := metav1.NewTime(now)
	mk := func(typ string, ok bool, reason, msg string) metav1.Condition {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: in.Generation, LastTransitionTime: t}
	}
	rot := in.Rotation
	running := rot != nil && rot.Outcome == ""
	var degraded metav1.Condition
	switch {
	case in.Problem != nil:
		degraded = mk(v1alpha1.ConditionDegraded, true, in.Problem.Reason, in.Problem.Error())
	case rot != nil && rot.Outcome == string(plan.OutcomeFailed):
		degraded = mk(v1alpha1.ConditionDegraded, true, ReasonRotationFailed,
			fmt.Sprintf("rotation to %s failed: %s", rot.Target, rot.Reason))
	case rot != nil && rot.Outcome == string(plan.OutcomeRolledBack) && rot.Reason != plan.ReasonAborted:
		degraded = mk(v1alpha1.ConditionDegraded, true, ReasonRotationRolledBack,
			fmt.Sprintf("rotation to %s rolled back: %s; targets stay on the previous CA (set %s to retry)", rot.Target, rot.Reason, AnnotationRotate))
	default:
		degraded = mk(v1alpha1.ConditionDegraded, false, ReasonAsExpected, "")
	}
	rotating := mk(v1alpha1.ConditionRotating, false, ReasonIdle, "")
	if running {
		phase := rot.Phase
		if phase == "" {
			phase = "Pending"
		}
		rotating = mk(v1alpha1.ConditionRotating, true, ReasonRotationRunning,
			fmt.Sprintf("%s rotation to %s: %s; %s", rot.Trigger, rot.Target, phase, in.Consumers))
	}
	var ready metav1.Condition
	switch {
	case degraded.Status == metav1.ConditionTrue:
		ready = mk(v1alpha1.ConditionReady, false, ReasonDegraded, degraded.Message)
	case running:
		ready = mk(v1alpha1.ConditionReady, false, ReasonRotationRunning, rotating.Message)
	case !in.Converged:
		ready = mk(v1alpha1.ConditionReady, false, ReasonNotPublished, "the active CA is not published to every target yet")
	default:
		ready = mk(v1alpha1.ConditionReady, true, ReasonConverged, in.Consumers)
	}
	return []metav1.Condition{ready, rotating, degraded}
}

// MergeConditions returns existing with each of desired set by
// meta.SetStatusCondition: LastTransitionTime changes only when a
// condition's status does. existing is not modified.
func MergeConditions(existing, desired []metav1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, len(existing))
	copy(out, existing)
	for _, c := range desired {
		meta.SetStatusCondition(&out, c)
	}
	return out
}

// SummaryOf returns status.phase and status.reason for st (the columns of
// kubectl get): phase Degraded when the Degraded condition is True and no
// rotation is running (else st.Phase as is, Idle when empty); reason the
// Degraded condition's reason when it is True, else the Ready condition's.
// Pure.
func SummaryOf(st *v1alpha1.CertificateAuthorityStatus) (phase, reason string) {
	phase = st.Phase
	degraded := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionDegraded)
	running := st.Rotation != nil && st.Rotation.Outcome == ""
	if degraded != nil && degraded.Status == metav1.ConditionTrue {
		if !running {
			phase = "Degraded"
		}
		return phase, degraded.Reason
	}
	if phase == "" {
		phase = "Idle"
	}
	if ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); ready != nil {
		reason = ready.Reason
	}
	return phase, reason
}
