package certificateauthority

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func TestConditions(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type want struct{ ready, rotating, degraded, reason string }
	tests := []struct {
		name string
		in   ConditionInput
		want want
	}{
		{"converged", ConditionInput{Converged: true, Consumers: "2/2 consumers on generation 3"}, want{"True", "False", "False", ReasonConverged}},
		{"not published", ConditionInput{}, want{"False", "False", "False", ReasonNotPublished}},
		{"bad input", ConditionInput{Converged: true, Problem: &Problem{ReasonKeyMismatch, "spec.source.secretRef.privateKeyKey", "mismatch"}},
			want{"False", "False", "True", ReasonKeyMismatch}},
		{"rotating", ConditionInput{Converged: false, Rotation: &v1alpha1.RotationStatus{Target: "B", Phase: "add-new-ca-to-bundles"}},
			want{"False", "True", "False", ReasonRotationRunning}},
		{"failed", ConditionInput{Rotation: &v1alpha1.RotationStatus{Target: "B", Outcome: "Failed", Reason: "x"}},
			want{"False", "False", "True", ReasonRotationFailed}},
		{"rolled back", ConditionInput{Converged: true, Rotation: &v1alpha1.RotationStatus{Target: "B", Outcome: "RolledBack", Reason: "gate"}},
			want{"False", "False", "True", ReasonRotationRolledBack}},
		{"aborted by revert is fine", ConditionInput{Converged: true, Rotation: &v1alpha1.RotationStatus{Target: "B", Outcome: "RolledBack", Reason: "aborted"}},
			want{"True", "False", "False", ReasonConverged}},
		{"succeeded", ConditionInput{Converged: true, Rotation: &v1alpha1.RotationStatus{Target: "B", Outcome: "Succeeded"}},
			want{"True", "False", "False", ReasonConverged}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.in.Generation = 7
			cs := Conditions(tt.in, now)
			got := map[string]metav1.Condition{}
			for _, c := range cs {
				if c.ObservedGeneration != 7 {
					t.Errorf("%s observedGeneration = %d", c.Type, c.ObservedGeneration)
				}
				got[c.Type] = c
			}
			if g := got[v1alpha1.ConditionReady]; string(g.Status) != tt.want.ready {
				t.Errorf("Ready = %s (%s), want %s", g.Status, g.Reason, tt.want.ready)
			}
			if g := got[v1alpha1.ConditionRotating]; string(g.Status) != tt.want.rotating {
				t.Errorf("Rotating = %s, want %s", g.Status, tt.want.rotating)
			}
			d := got[v1alpha1.ConditionDegraded]
			if string(d.Status) != tt.want.degraded {
				t.Errorf("Degraded = %s, want %s", d.Status, tt.want.degraded)
			}
			reasons := got[v1alpha1.ConditionReady].Reason + " " + got[v1alpha1.ConditionRotating].Reason + " " + d.Reason
			found := false
			for _, c := range cs {
				found = found || c.Reason == tt.want.reason
			}
			if !found {
				t.Errorf("reasons %q, want one %s", reasons, tt.want.reason)
			}
		})
	}
}

func TestMergeConditionsKeepsTransitionTime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := MergeConditions(nil, Conditions(ConditionInput{Converged: true, Generation: 1}, t0))
	second := MergeConditions(first, Conditions(ConditionInput{Converged: true, Generation: 2}, t0.Add(time.Hour)))
	for _, c := range second {
		if !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("%s transition time moved to %s without a status change", c.Type, c.LastTransitionTime)
		}
		if c.ObservedGeneration != 2 {
			t.Errorf("%s observedGeneration %d, want 2", c.Type, c.ObservedGeneration)
		}
	}
	third := MergeConditions(second, Conditions(ConditionInput{Generation: 2, Problem: &Problem{ReasonInvalidSpec, "spec", "x"}}, t0.Add(2*time.Hour)))
	if d := findCondition(third, v1alpha1.ConditionDegraded); !d.LastTransitionTime.Time.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("Degraded flipped but transition time is %s", d.LastTransitionTime)
	}
}

func TestConvergence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		names    []string
		verified map[string]int64
		gen      int64
		want     string
	}{
		{nil, nil, 3, "no consumers declared"},
		{[]string{"a", "b", "c", "d"}, map[string]int64{"a": 5, "b": 5, "c": 5, "d": 4}, 5, "3/4 consumers on generation 5"},
		{[]string{"a", "b"}, map[string]int64{}, 1, "0/2 consumers on generation 1"},
		{[]string{"a"}, map[string]int64{"a": 6}, 5, "1/1 consumers on generation 5"},
	}
	for _, tt := range tests {
		cs, text := Convergence(tt.names, tt.verified, tt.gen)
		if text != tt.want {
			t.Errorf("Convergence = %q, want %q", text, tt.want)
		}
		for _, c := range cs {
			if (c.BundleGeneration < tt.gen) != (c.Message != "") {
				t.Errorf("consumer %s gen %d message %q", c.Name, c.BundleGeneration, c.Message)
			}
		}
	}
}

func TestSummaryOf(t *testing.T) {
	t.Parallel()
	cond := func(typ string, ok bool, reason string) metav1.Condition {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: st, Reason: reason}
	}
	running := &v1alpha1.RotationStatus{Phase: "drop-previous-ca"}
	for _, tc := range []struct {
		name               string
		st                 v1alpha1.CertificateAuthorityStatus
		wantPhase, wantWhy string
	}{
		{"never reconciled", v1alpha1.CertificateAuthorityStatus{}, "Idle", ""},
		{"bad input before the first publish", v1alpha1.CertificateAuthorityStatus{Conditions: []metav1.Condition{
			cond(v1alpha1.ConditionReady, false, ReasonDegraded), cond(v1alpha1.ConditionDegraded, true, "ConsumerNotFound")}}, "Degraded", "ConsumerNotFound"},
		{"bad input during a rotation keeps its step", v1alpha1.CertificateAuthorityStatus{Phase: "drop-previous-ca", Rotation: running, Conditions: []metav1.Condition{
			cond(v1alpha1.ConditionDegraded, true, "InvalidSpec")}}, "drop-previous-ca", "InvalidSpec"},
		{"rotating", v1alpha1.CertificateAuthorityStatus{Phase: "drop-previous-ca", Rotation: running, Conditions: []metav1.Condition{
			cond(v1alpha1.ConditionReady, false, ReasonRotationRunning), cond(v1alpha1.ConditionDegraded, false, ReasonAsExpected)}}, "drop-previous-ca", ReasonRotationRunning},
		{"converged", v1alpha1.CertificateAuthorityStatus{Phase: "Idle", Conditions: []metav1.Condition{
			cond(v1alpha1.ConditionReady, true, ReasonConverged), cond(v1alpha1.ConditionDegraded, false, ReasonAsExpected)}}, "Idle", ReasonConverged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			phase, why := SummaryOf(&tc.st)
			if phase != tc.wantPhase || why != tc.wantWhy {
				t.Fatalf("SummaryOf = %q, %q; want %q, %q", phase, why, tc.wantPhase, tc.wantWhy)
			}
		})
	}
}
