package backend

import (
	"strings"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func budget(minAvail, maxUnavail *intstr.IntOrString, expected, allowed int32, observed bool) *policyv1.PodDisruptionBudget {
	p := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "pdb", Generation: 2},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvail, MaxUnavailable: maxUnavail},
		Status:     policyv1.PodDisruptionBudgetStatus{ExpectedPods: expected, DisruptionsAllowed: allowed},
	}
	if observed {
		p.Status.ObservedGeneration = 2
	}
	return p
}

func TestEvictionHeadroom(t *testing.T) {
	t.Parallel()
	i := func(v int) *intstr.IntOrString { return ptr.To(intstr.FromInt32(int32(v))) }
	pct := func(s string) *intstr.IntOrString { return ptr.To(intstr.FromString(s)) }
	cases := []struct {
		name  string
		pdb   *policyv1.PodDisruptionBudget
		ready int
		want  int
		inWhy string
	}{
		{"no budget", nil, 3, 3, "no PodDisruptionBudget"},
		{"minAvailable 2 of 3 ready", budget(i(2), nil, 3, 1, true), 3, 1, "1 disruption(s) allowed"},
		{"minAvailable 2, one unhealthy", budget(i(2), nil, 3, 0, true), 2, 0, "(1 unhealthy)"},
		{"minAvailable 3 of 3", budget(i(3), nil, 3, 0, true), 3, 0, "minAvailable 3"},
		{"minAvailable above ready never negative", budget(i(5), nil, 3, 0, true), 3, 0, "0 disruption(s)"},
		{"minAvailable 50% of 3 rounds up to 2", budget(pct("50%"), nil, 3, 1, true), 3, 1, "2 must stay healthy"},
		{"minAvailable 100%", budget(pct("100%"), nil, 4, 0, true), 4, 0, "4 must stay healthy"},
		{"maxUnavailable 1 of 3", budget(nil, i(1), 3, 1, true), 3, 1, "maxUnavailable 1"},
		{"maxUnavailable 1, one unhealthy", budget(nil, i(1), 3, 0, true), 2, 0, "(1 unhealthy)"},
		{"maxUnavailable 25% of 4 rounds up to 1", budget(nil, pct("25%"), 4, 1, true), 4, 1, "3 must stay healthy"},
		{"maxUnavailable 0", budget(nil, i(0), 3, 0, true), 3, 0, "3 must stay healthy"},
		{"status caps the spec", budget(i(1), nil, 3, 1, true), 3, 1, "caps it at 1"},
		{"stale status is not a cap", budget(i(1), nil, 3, 0, false), 3, 2, "2 disruption(s)"},
		{"expected unknown uses ready", budget(i(2), nil, 0, 0, false), 3, 1, "of 3 expected"},
		{"neither field set", budget(nil, nil, 3, 3, true), 3, 3, "no minAvailable or maxUnavailable"},
		{"bad percent", budget(pct("half"), nil, 3, 1, true), 3, 0, "invalid spec.minAvailable"},
		{"negative ready", budget(i(1), nil, 3, 1, true), -1, 0, "invalid ready count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, why := EvictionHeadroom(tc.pdb, tc.ready)
			if got != tc.want {
				t.Errorf("allowed = %d, want %d (reason %q)", got, tc.want, why)
			}
			if !strings.Contains(why, tc.inWhy) {
				t.Errorf("reason %q does not contain %q", why, tc.inWhy)
			}
		})
	}
}
