package ca

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func TestWaitStateObserve(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 1, 15, 10, 0, 0, 500_000_000, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(since.Truncate(time.Second).Add(d)) }
	rotating := func(s metav1.ConditionStatus) []metav1.Condition {
		return []metav1.Condition{{Type: v1alpha1.ConditionRotating, Status: s}}
	}
	obj := func(cond metav1.ConditionStatus, r *v1alpha1.RotationStatus, queued string) *v1alpha1.CertificateAuthority {
		return &v1alpha1.CertificateAuthority{Status: v1alpha1.CertificateAuthorityStatus{Conditions: rotating(cond), Rotation: r, Queued: queued}}
	}
	withActive := func(ca *v1alpha1.CertificateAuthority, fp string) *v1alpha1.CertificateAuthority {
		ca.Status.Active = &v1alpha1.CAInfo{Fingerprint: fp}
		return ca
	}
	tests := []struct {
		name  string
		polls []*v1alpha1.CertificateAuthority
		want  bool // the last poll's verdict
	}{
		{"controller has not acted: old rotation ended before the trigger",
			[]*v1alpha1.CertificateAuthority{obj(metav1.ConditionFalse, &v1alpha1.RotationStatus{StartedAt: at(-time.Hour), Outcome: "Succeeded"}, "")}, false},
		{"no rotation yet", []*v1alpha1.CertificateAuthority{obj(metav1.ConditionFalse, nil, "")}, false},
		{"running", []*v1alpha1.CertificateAuthority{obj(metav1.ConditionTrue, &v1alpha1.RotationStatus{StartedAt: at(0)}, "")}, false},
		{"started in the trigger's second and ended between polls",
			[]*v1alpha1.CertificateAuthority{withActive(obj(metav1.ConditionFalse, &v1alpha1.RotationStatus{StartedAt: at(0), Outcome: "Succeeded", Target: "new"}, ""), "new")}, true},
		{"succeeded but status.active not adopted yet",
			[]*v1alpha1.CertificateAuthority{withActive(obj(metav1.ConditionFalse, &v1alpha1.RotationStatus{StartedAt: at(1), Outcome: "Succeeded", Target: "new"}, ""), "old")}, false},
		{"seen running, then ended",
			[]*v1alpha1.CertificateAuthority{
				obj(metav1.ConditionTrue, &v1alpha1.RotationStatus{StartedAt: at(-time.Minute)}, ""),
				obj(metav1.ConditionFalse, &v1alpha1.RotationStatus{StartedAt: at(-time.Minute), Outcome: "RolledBack"}, ""),
			}, true},
		{"failed rotation ends the wait without adopting",
			[]*v1alpha1.CertificateAuthority{withActive(obj(metav1.ConditionFalse, &v1alpha1.RotationStatus{StartedAt: at(1), Outcome: "Failed", Target: "new"}, ""), "old")}, true},
		{"running rotation ended but ours is queued behind it",
			[]*v1alpha1.CertificateAuthority{
				obj(metav1.ConditionTrue, &v1alpha1.RotationStatus{StartedAt: at(-time.Minute)}, "Manual t"),
				obj(metav1.ConditionFalse, &v1alpha1.RotationStatus{StartedAt: at(-time.Minute), Outcome: "Succeeded"}, "Manual t"),
			}, false},
		{"the rotation before the trigger ended within the trigger's second (target and start unchanged)",
			[]*v1alpha1.CertificateAuthority{withActive(obj(metav1.ConditionFalse, &v1alpha1.RotationStatus{StartedAt: at(0), Outcome: "Succeeded", Target: "before", Trigger: "Manual"}, ""), "before")}, false},
		{"a new rotation in the same second as the one before the trigger",
			[]*v1alpha1.CertificateAuthority{withActive(obj(metav1.ConditionFalse, &v1alpha1.RotationStatus{StartedAt: at(0), Outcome: "Succeeded", Target: "first", Trigger: "Manual"}, ""), "first")}, true},
		{"outcome set but Rotating still True", []*v1alpha1.CertificateAuthority{obj(metav1.ConditionTrue, &v1alpha1.RotationStatus{StartedAt: at(time.Second), Outcome: "Succeeded"}, "")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := &waitState{since: since, before: &v1alpha1.RotationStatus{StartedAt: at(0), Outcome: "Succeeded", Target: "before", Trigger: "Manual"}}
			var got bool
			for _, p := range tt.polls {
				got = w.observe(p)
			}
			if got != tt.want {
				t.Errorf("observe = %v, want %v", got, tt.want)
			}
		})
	}
}
