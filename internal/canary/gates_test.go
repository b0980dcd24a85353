package canary

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/internal/plan"
)

func TestDeniedWritesGate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		denied int64
		max    *int32
		want   plan.CheckState
		reason string
	}{
		{"off (the API default) ignores denials", 1000, nil, plan.CheckDone, ""},
		{"none denied", 0, ptr.To[int32](0), plan.CheckDone, ""},
		{"at the limit passes", 3, ptr.To[int32](3), plan.CheckDone, ""},
		{"over the limit fails", 4, ptr.To[int32](3), plan.CheckFailed, "denied 4 writes of the canary, more than analysis.maxDeniedWrites 3"},
		{"zero tolerance", 1, ptr.To[int32](0), plan.CheckFailed, "maxDeniedWrites 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := DeniedWritesGate(c.denied, c.max)
			if got.State != c.want || !strings.Contains(got.Reason, c.reason) {
				t.Fatalf("DeniedWritesGate(%d) = %+v, want %s …%q…", c.denied, got, c.want, c.reason)
			}
		})
	}
}

func TestReconciled(t *testing.T) {
	t.Parallel()
	cond := func(typ string, st metav1.ConditionStatus, gen int64) metav1.Condition {
		return metav1.Condition{Type: typ, Status: st, ObservedGeneration: gen, Reason: "R"}
	}
	cases := []struct {
		name      string
		o         ObjectReconcile
		condition string
		want      bool
		why       string
	}{
		{"observed current", ObjectReconcile{Generation: 2, ObservedGeneration: 2, HasObserved: true}, "", true, ""},
		{"observed ahead", ObjectReconcile{Generation: 2, ObservedGeneration: 3, HasObserved: true}, "", true, ""},
		{"observed behind", ObjectReconcile{Generation: 3, ObservedGeneration: 2, HasObserved: true}, "", false, "observedGeneration 2 < metadata.generation 3"},
		{"no status", ObjectReconcile{Generation: 1}, "", false, "no status.observedGeneration"},
		{"condition true current", ObjectReconcile{Generation: 2, Conditions: []metav1.Condition{cond("Ready", metav1.ConditionTrue, 2)}}, "Ready", true, ""},
		{"condition true without generation", ObjectReconcile{Generation: 2, Conditions: []metav1.Condition{cond("Ready", metav1.ConditionTrue, 0)}}, "Ready", true, ""},
		{"condition true but stale", ObjectReconcile{Generation: 3, Conditions: []metav1.Condition{cond("Ready", metav1.ConditionTrue, 2)}}, "Ready", false, "observedGeneration 2 < metadata.generation 3"},
		{"condition false", ObjectReconcile{Generation: 1, Conditions: []metav1.Condition{cond("Ready", metav1.ConditionFalse, 1)}}, "Ready", false, "condition Ready is False (R)"},
		{"other condition only", ObjectReconcile{Generation: 1, Conditions: []metav1.Condition{cond("Synced", metav1.ConditionTrue, 1)}}, "Ready", false, "no condition Ready"},
		{"condition set ignores observedGeneration", ObjectReconcile{Generation: 1, ObservedGeneration: 1, HasObserved: true}, "Ready", false, "no condition Ready"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ok, why := Reconciled(c.o, c.condition)
			if ok != c.want || !strings.Contains(why, c.why) || (ok && why != "") {
				t.Fatalf("Reconciled = %v %q, want %v …%q…", ok, why, c.want, c.why)
			}
		})
	}
}

func TestReconciledGate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	good := ObjectReconcile{Key: "g/Route/ns/a", Generation: 1, ObservedGeneration: 1, HasObserved: true}
	bad := ObjectReconcile{Key: "g/Route/ns/b", Generation: 2, ObservedGeneration: 1, HasObserved: true}
	cases := []struct {
		name    string
		objs    []ObjectReconcile
		since   time.Time
		now     time.Time
		timeout time.Duration
		want    plan.CheckState
		reason  string
	}{
		{"nothing owned yet", nil, t0, t0, 0, plan.CheckDone, ""},
		{"all reconciled", []ObjectReconcile{good, good}, t0, t0, 0, plan.CheckDone, ""},
		{"one behind waits", []ObjectReconcile{good, bad}, t0, t0.Add(time.Minute), 0, plan.CheckNotYet, "1/2 objects of revision v2 reconciled (status.observedGeneration); first not: g/Route/ns/b"},
		{"one behind past the default timeout fails", []ObjectReconcile{good, bad}, t0, t0.Add(DefaultReconcileTimeout), 0, plan.CheckFailed, "not reconciled within analysis.reconcileTimeout 5m0s"},
		{"short timeout fails", []ObjectReconcile{bad}, t0, t0.Add(2 * time.Second), time.Second, plan.CheckFailed, "0/1"},
		{"unknown start never fails", []ObjectReconcile{bad}, time.Time{}, t0.Add(time.Hour), time.Second, plan.CheckNotYet, "0/1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := ReconciledGate(c.objs, "", "v2", c.since, c.now, c.timeout)
			if got.State != c.want || !strings.Contains(got.Reason, c.reason) {
				t.Fatalf("ReconciledGate = %+v, want %s …%q…", got, c.want, c.reason)
			}
		})
	}
}

func TestDrainGate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		pending int
		since   time.Time
		now     time.Time
		timeout time.Duration
		want    plan.CheckState
		reason  string
	}{
		{"nothing waits", 0, t0, t0.Add(time.Hour), time.Second, plan.CheckDone, ""},
		{"waiting", 3, t0, t0.Add(time.Minute), 0, plan.CheckNotYet, "3 objects wait for revision v1 to acknowledge their drain"},
		{"past the default timeout", 3, t0, t0.Add(DefaultReconcileTimeout), 0, plan.CheckFailed, "not acknowledged within analysis.reconcileTimeout 5m0s"},
		{"unknown start never fails", 1, time.Time{}, t0.Add(time.Hour), time.Second, plan.CheckNotYet, "1 objects"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := DrainGate(c.pending, "v1", c.since, c.now, c.timeout)
			if got.State != c.want || !strings.Contains(got.Reason, c.reason) {
				t.Fatalf("DrainGate = %+v, want %s …%q…", got, c.want, c.reason)
			}
		})
	}
}
