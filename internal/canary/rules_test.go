package canary

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func TestToCanaryTable(t *testing.T) {
	t.Parallel()
	k := Key("sample.handover.dev", "Route", "default", "r-1")
	cases := []struct {
		name    string
		weight  int32
		want    bool
		wantErr error
	}{
		{"zero assigns nothing", 0, false, nil},
		{"hundred assigns everything", 100, true, nil},
		{"negative", -1, false, ErrInvalidWeight},
		{"over hundred", 101, false, ErrInvalidWeight},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := ToCanary(k, c.weight)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("ToCanary(%q, %d) error = %v, want %v", k, c.weight, err, c.wantErr)
			}
			if err == nil && got != c.want {
				t.Fatalf("ToCanary(%q, %d) = %v, want %v", k, c.weight, got, c.want)
			}
		})
	}
}

// TestToCanaryShareAndMonotone: over 10,000 keys, weight W assigns W % ± 1.5
// points, and every key assigned at W is assigned at every W' > W.
func TestToCanaryShareAndMonotone(t *testing.T) {
	t.Parallel()
	const n = 10000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = Key("sample.handover.dev", "Route", fmt.Sprintf("ns-%d", i%7), fmt.Sprintf("route-%d", i))
	}
	prev := make([]bool, n)
	for _, w := range []int32{0, 1, 5, 10, 25, 50, 75, 99, 100} {
		got := 0
		for i, k := range keys {
			in, err := ToCanary(k, w)
			if err != nil {
				t.Fatal(err)
			}
			if prev[i] && !in {
				t.Fatalf("key %q left the canary when the weight rose to %d", k, w)
			}
			prev[i] = in
			if in {
				got++
			}
		}
		share := float64(got) * 100 / n
		if share < float64(w)-1.5 || share > float64(w)+1.5 {
			t.Errorf("weight %d assigned %.2f %% of %d keys, want %d ± 1.5", w, share, n, w)
		}
	}
}

func TestBucketStable(t *testing.T) {
	t.Parallel()
	// Fixed values: the assignment must not change between releases, or a
	// restart of handover would move objects.
	cases := map[string]int{
		Key("", "ConfigMap", "default", "a"):                     5851,
		Key("sample.handover.dev", "Route", "default", "r-0001"): 7030,
	}
	for k, want := range cases {
		if got := Bucket(k); got != want {
			t.Fatalf("Bucket(%q) = %d, want %d (the assignment changed: a restart would move objects)", k, got, want)
		}
	}
	if got, want := Key("", "ConfigMap", "ns", "x"), "/ConfigMap/ns/x"; got != want {
		t.Fatalf("Key = %q, want %q", got, want)
	}
}

func TestOwnerKey(t *testing.T) {
	t.Parallel()
	routeGVK := schema.GroupVersionKind{Group: "sample.handover.dev", Version: "v1", Kind: "Route"}
	cmGVK := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	child := &metav1.ObjectMeta{Namespace: "ns", Name: "r-1-config", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "other.dev/v1", Kind: "Thing", Name: "not-controller"},
		{APIVersion: "sample.handover.dev/v1", Kind: "Route", Name: "r-1", Controller: ptr.To(true)},
	}}
	orphan := &metav1.ObjectMeta{Namespace: "ns", Name: "loose", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "sample.handover.dev/v1", Kind: "Route", Name: "r-1"},
	}}
	cases := []struct {
		name      string
		gvk       schema.GroupVersionKind
		obj       metav1.Object
		wantKey   string
		wantChild bool
	}{
		{"main object keys on itself", routeGVK, &metav1.ObjectMeta{Namespace: "ns", Name: "r-1"}, "sample.handover.dev/Route/ns/r-1", false},
		{"child keys on its controller", cmGVK, child, "sample.handover.dev/Route/ns/r-1", true},
		{"non-controller owner is ignored", cmGVK, orphan, "/ConfigMap/ns/loose", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			k, isChild := OwnerKey(c.gvk, c.obj)
			if k != c.wantKey || isChild != c.wantChild {
				t.Fatalf("OwnerKey = (%q, %v), want (%q, %v)", k, isChild, c.wantKey, c.wantChild)
			}
		})
	}
}

func TestRevisionOf(t *testing.T) {
	t.Parallel()
	const key = "handover.dev/controller-revision"
	cases := []struct {
		name   string
		labels map[string]string
		revert bool
		want   string
	}{
		{"no label is stable", nil, false, "v1"},
		{"empty label is stable", map[string]string{key: ""}, false, "v1"},
		{"label names the owner", map[string]string{key: "v2"}, false, "v2"},
		{"revert makes everything stable", map[string]string{key: "v2"}, true, "v1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := RevisionOf(c.labels, key, "v1", c.revert); got != c.want {
				t.Fatalf("RevisionOf = %q, want %q", got, c.want)
			}
		})
	}
}

func TestAllowDelete(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	b := Budget{MaxDeletes: 2, Window: time.Minute}
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	cases := []struct {
		name       string
		b          Budget
		deletes    []time.Time
		tripped    bool
		wantOK     bool
		wantReason string
	}{
		{"empty window allows", b, nil, false, true, ""},
		{"one below the budget allows", b, []time.Time{ago(time.Second)}, false, true, ""},
		{"at the budget denies", b, []time.Time{ago(time.Second), ago(2 * time.Second)}, false, false, "delete 3 in the last 1m0s exceeds deletionBudget.maxDeletes 2"},
		{"old deletes slid out", b, []time.Time{ago(time.Minute), ago(2 * time.Minute)}, false, true, ""},
		{"future stamps still count", b, []time.Time{now.Add(time.Second), ago(time.Second)}, false, false, "exceeds"},
		{"open breaker denies", b, nil, true, false, "breaker is open"},
		{"zero budget denies every delete", Budget{MaxDeletes: 0, Window: time.Minute}, nil, false, false, "exceeds deletionBudget.maxDeletes 0"},
		{"invalid window denies", Budget{MaxDeletes: 5}, nil, false, false, "window 0s is not positive"},
		{"negative max denies", Budget{MaxDeletes: -1, Window: time.Minute}, nil, false, false, "maxDeletes -1 is negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ok, reason := AllowDelete(c.b, c.deletes, c.tripped, now)
			if ok != c.wantOK || !strings.Contains(reason, c.wantReason) || (c.wantOK && reason != "") {
				t.Fatalf("AllowDelete = (%v, %q), want (%v, …%q…)", ok, reason, c.wantOK, c.wantReason)
			}
		})
	}
}

func TestAllowDeletesChargesChildren(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	b := Budget{MaxDeletes: 5, Window: time.Minute}
	cases := []struct {
		name   string
		had    int
		n      int
		wantOK bool
		reason string
	}{
		{"owner with 4 children fits 5", 0, 5, true, ""},
		{"owner with 5 children exceeds 5", 0, 6, false, "deletes 1-6 in the last 1m0s (an owner and 5 children) exceed deletionBudget.maxDeletes 5"},
		{"after 3 deletes an owner with 2 children exceeds", 3, 3, false, "deletes 4-6"},
		{"n below 1 counts as 1", 4, 0, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var ds []time.Time
			for range c.had {
				ds = append(ds, now.Add(-time.Second))
			}
			ok, reason := AllowDeletes(b, ds, false, now, c.n)
			if ok != c.wantOK || !strings.Contains(reason, c.reason) {
				t.Fatalf("AllowDeletes = (%v, %q), want (%v, …%q…)", ok, reason, c.wantOK, c.reason)
			}
		})
	}
}

func TestLedgerTripsOnceAndSlides(t *testing.T) {
	t.Parallel()
	clk := testclock.NewFakePassiveClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	var trips []string
	l := NewLedger(Budget{MaxDeletes: 3, Window: 10 * time.Second}, clk, func(rev string, tr Trip) {
		trips = append(trips, rev+": "+tr.Reason)
	})
	for i := range 3 {
		if ok, reason := l.Delete("v2"); !ok {
			t.Fatalf("delete %d denied: %s", i+1, reason)
		}
	}
	if ok, _ := l.Delete("v1"); !ok {
		t.Fatal("v1's delete was charged to v2's budget")
	}
	if ok, _ := l.Delete("v2"); ok {
		t.Fatal("4th delete in the window allowed with maxDeletes 3")
	}
	if _, open := l.Tripped("v2"); !open {
		t.Fatal("breaker not open after a denied delete")
	}
	clk.SetTime(clk.Now().Add(time.Minute))
	if ok, reason := l.Delete("v2"); ok || !strings.Contains(reason, "breaker is open") {
		t.Fatalf("open breaker let a delete through after the window slid: %v %q", ok, reason)
	}
	if len(trips) != 1 || !strings.HasPrefix(trips[0], "v2: ") {
		t.Fatalf("onTrip calls = %q, want one for v2", trips)
	}
	if got := l.Count("v2"); got != 0 {
		t.Fatalf("Count after the window slid = %d, want 0", got)
	}
	l.Reset("v2")
	if ok, _ := l.Delete("v2"); !ok {
		t.Fatal("delete denied after Reset")
	}
}

func TestNextDrainStep(t *testing.T) {
	t.Parallel()
	const d, a = v1alpha1.LabelDrain, v1alpha1.LabelDrainAck
	cases := []struct {
		name   string
		labels map[string]string
		drain  bool
		want   DrainStep
	}{
		{"no handshake moves at once", nil, false, DrainMove},
		{"no handshake ignores a stale mark", map[string]string{d: "v2"}, false, DrainMove},
		{"unmarked is marked", nil, true, DrainMark},
		{"marked for another revision is marked again", map[string]string{d: "v3", a: "v1"}, true, DrainMark},
		{"marked waits", map[string]string{d: "v2"}, true, DrainWait},
		{"ack by the wrong revision waits", map[string]string{d: "v2", a: "v2"}, true, DrainWait},
		{"acknowledged moves", map[string]string{d: "v2", a: "v1"}, true, DrainMove},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := NextDrainStep(c.labels, "v1", "v2", c.drain); got != c.want {
				t.Fatalf("NextDrainStep(%v) = %v, want %v", c.labels, got, c.want)
			}
		})
	}
}

func TestLedgerRestoreOpensWithoutCallback(t *testing.T) {
	t.Parallel()
	calls := 0
	l := NewLedger(Budget{MaxDeletes: 3, Window: time.Minute}, nil, func(string, Trip) { calls++ })
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l.Restore("v2", Trip{At: at, Reason: "delete 4 exceeds"})
	if tr, open := l.Tripped("v2"); !open || !tr.At.Equal(at) {
		t.Fatalf("Tripped after Restore = %+v %v", tr, open)
	}
	if ok, reason := l.Delete("v2"); ok || !strings.Contains(reason, "breaker is open") {
		t.Fatalf("a restored breaker let a delete through: %v %q", ok, reason)
	}
	if calls != 0 {
		t.Fatalf("onTrip called %d times for a restored breaker", calls)
	}
}
