package backend

import (
	"fmt"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// EvictionHeadroom is how many of a budget's pods may be evicted now, given
// ready = the number of its pods that are Ready (healthy) right now, with a
// reason for humans. It follows the disruption controller
// (pkg/controller/disruption; Kubernetes docs "Specifying a Disruption
// Budget for your Application"):
//
//   - expected pods = status.expectedPods, or ready when the controller has
//     not counted yet (0);
//   - desired healthy = minAvailable (an int, or a percent of expected
//     rounded up), or expected − maxUnavailable (percent rounded up), or 0
//     when neither is set;
//   - allowed = ready − desired healthy, at least 0, and never more than
//     status.disruptionsAllowed once the status is current
//     (observedGeneration = generation): that is what the Eviction API
//     enforces, it answers 429 beyond it.
//
// A nil budget allows every ready pod ("no PodDisruptionBudget"). Bad input
// (ready < 0, an unparsable percent) returns 0 and a reason naming the field.
func EvictionHeadroom(pdb *policyv1.PodDisruptionBudget, ready int) (allowed int, reason string) {
	if ready < 0 {
		return 0, fmt.Sprintf("invalid ready count %d", ready)
	}
	if pdb == nil {
		return ready, "no PodDisruptionBudget"
	}
	expected := int(pdb.Status.ExpectedPods)
	if expected <= 0 {
		expected = ready
	}
	var desired int
	var rule string
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		mu, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, expected, true)
		if err != nil || mu < 0 {
			return 0, fmt.Sprintf("invalid spec.maxUnavailable %q", pdb.Spec.MaxUnavailable.String())
		}
		desired = max(expected-mu, 0)
		rule = fmt.Sprintf("maxUnavailable %s of %d expected", pdb.Spec.MaxUnavailable.String(), expected)
	case pdb.Spec.MinAvailable != nil:
		ma, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, expected, true)
		if err != nil || ma < 0 {
			return 0, fmt.Sprintf("invalid spec.minAvailable %q", pdb.Spec.MinAvailable.String())
		}
		desired = ma
		rule = fmt.Sprintf("minAvailable %s of %d expected", pdb.Spec.MinAvailable.String(), expected)
	default:
		rule = "no minAvailable or maxUnavailable"
	}
	allowed = max(ready-desired, 0)
	reason = fmt.Sprintf("%s: %d must stay healthy, %d ready", rule, desired, ready)
	if unhealthy := expected - ready; unhealthy > 0 {
		reason += fmt.Sprintf(" (%d unhealthy)", unhealthy)
	}
	if pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.ObservedGeneration > 0 {
		if cap := int(pdb.Status.DisruptionsAllowed); cap < allowed {
			allowed = max(cap, 0)
			reason += fmt.Sprintf("; status.disruptionsAllowed caps it at %d", cap)
		}
	}
	return allowed, fmt.Sprintf("%s: %d disruption(s) allowed", reason, allowed)
}
