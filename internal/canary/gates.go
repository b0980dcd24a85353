package canary

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/internal/plan"
)

// Gate names, as reported in status.gates (v1alpha1.GateVerdict.Name).
const (
	GateReconciled     = "Reconciled"
	GateErrorRatio     = "ErrorRatio"
	GateDeniedWrites   = "DeniedWrites"
	GateDeletionBudget = "DeletionBudget"
	GateDrained        = "Drained"
)

// DefaultReconcileTimeout is analysis.reconcileTimeout when unset (the
// CRD's default).
const DefaultReconcileTimeout = 5 * time.Minute

// DeniedWritesGate is the maxDeniedWrites gate: Failed once denied (the
// canary's writes the enforcement denied since the plan started) exceeds
// *maxDenied, Done otherwise, and Done when maxDenied is nil (the gate is
// off). Pure.
func DeniedWritesGate(denied int64, maxDenied *int32) plan.Result {
	if maxDenied == nil {
		return plan.Done()
	}
	if denied > int64(*maxDenied) {
		return plan.Failed(fmt.Sprintf("enforcement denied %d writes of the canary, more than analysis.maxDeniedWrites %d", denied, *maxDenied))
	}
	return plan.Done()
}

// ObjectReconcile is what the reconciled gate reads of one main object the
// canary owns.
type ObjectReconcile struct {
	// Key names the object (group/kind/namespace/name).
	Key string
	// Generation is metadata.generation.
	Generation int64
	// ObservedGeneration is status.observedGeneration; HasObserved is
	// false when the field is absent.
	ObservedGeneration int64
	HasObserved        bool
	// Conditions are status.conditions (type, status, observedGeneration,
	// reason, message).
	Conditions []metav1.Condition
}

// Reconciled says whether o counts as reconciled, and why not: with
// condition "" when status.observedGeneration ≥ metadata.generation; with a
// condition type when that condition is True and, if it carries an
// observedGeneration, that is ≥ metadata.generation. Pure.
func Reconciled(o ObjectReconcile, condition string) (bool, string) {
	if condition == "" {
		switch {
		case !o.HasObserved:
			return false, "no status.observedGeneration"
		case o.ObservedGeneration < o.Generation:
			return false, fmt.Sprintf("status.observedGeneration %d < metadata.generation %d", o.ObservedGeneration, o.Generation)
		}
		return true, ""
	}
	for _, c := range o.Conditions {
		if c.Type != condition {
			continue
		}
		if c.Status != metav1.ConditionTrue {
			why := fmt.Sprintf("condition %s is %s", condition, c.Status)
			if c.Reason != "" {
				why += " (" + c.Reason + ")"
			}
			return false, why
		}
		if c.ObservedGeneration != 0 && c.ObservedGeneration < o.Generation {
			return false, fmt.Sprintf("condition %s observedGeneration %d < metadata.generation %d", condition, c.ObservedGeneration, o.Generation)
		}
		return true, ""
	}
	return false, "no condition " + condition
}

// ReconciledGate is the reconciled gate of a step over the main objects the
// canary (revision) owns: Done when every one is Reconciled (or there is
// none), NotYet "k/n … reconciled; first not: …" while some are not and
// less than timeout has passed since the step handed them over (since; a
// zero since never fails), Failed after that. timeout ≤ 0 uses
// DefaultReconcileTimeout. Pure.
func ReconciledGate(objs []ObjectReconcile, condition, revision string, since, now time.Time, timeout time.Duration) plan.Result {
	if timeout <= 0 {
		timeout = DefaultReconcileTimeout
	}
	done, first := 0, ""
	for _, o := range objs {
		ok, why := Reconciled(o, condition)
		if ok {
			done++
		} else if first == "" {
			first = o.Key + ": " + why
		}
	}
	if done == len(objs) {
		return plan.Done()
	}
	what := "status.observedGeneration"
	if condition != "" {
		what = "condition " + condition
	}
	msg := fmt.Sprintf("%d/%d objects of revision %s reconciled (%s); first not: %s", done, len(objs), revision, what, first)
	if !since.IsZero() && now.Sub(since) >= timeout {
		return plan.Failed(fmt.Sprintf("%s — not reconciled within analysis.reconcileTimeout %s", msg, timeout))
	}
	return plan.NotYet(msg)
}

// DrainGate is the drain handshake's gate while pending objects still wait
// for the stable revision's acknowledgement: NotYet, then Failed once
// timeout (≤ 0: DefaultReconcileTimeout) has passed since the step's
// relabel (since; zero never fails). Pure.
func DrainGate(pending int, stable string, since, now time.Time, timeout time.Duration) plan.Result {
	if pending == 0 {
		return plan.Done()
	}
	if timeout <= 0 {
		timeout = DefaultReconcileTimeout
	}
	msg := fmt.Sprintf("%d objects wait for revision %s to acknowledge their drain (label %s)", pending, stable, "handover.dev/drain-ack")
	if !since.IsZero() && now.Sub(since) >= timeout {
		return plan.Failed(msg + fmt.Sprintf(" — not acknowledged within analysis.reconcileTimeout %s", timeout))
	}
	return plan.NotYet(msg)
}
