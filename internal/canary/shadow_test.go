package canary_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
)

func TestShadowGate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                     string
		maxDeletes, maxUpdatePct *int32
		deletes, updates, scope  int64
		ok                       bool
		reason                   string
	}{
		{name: "no gates", deletes: 1000, updates: 1000, scope: 10, ok: true},
		{name: "zero deletes allowed, none tried", maxDeletes: ptr.To[int32](0), ok: true},
		{name: "zero deletes allowed, one tried", maxDeletes: ptr.To[int32](0), deletes: 1, reason: "tried to delete 1 object(s), analysis.maxShadowDeletes is 0"},
		{name: "deletes at the limit", maxDeletes: ptr.To[int32](5), deletes: 5, ok: true},
		{name: "deletes over the limit", maxDeletes: ptr.To[int32](5), deletes: 6, reason: "maxShadowDeletes is 5"},
		{name: "updates at 10 %", maxUpdatePct: ptr.To[int32](10), updates: 10, scope: 100, ok: true},
		{name: "updates over 10 %", maxUpdatePct: ptr.To[int32](10), updates: 11, scope: 100, reason: "change 11 of 100 object(s) (11.0 %)"},
		{name: "updates with nothing in scope", maxUpdatePct: ptr.To[int32](100), updates: 1, scope: 0, ok: true},
		{name: "updates with nothing in scope over 50 %", maxUpdatePct: ptr.To[int32](50), updates: 1, scope: 0, reason: "(100.0 %)"},
		{name: "no updates, 0 % allowed", maxUpdatePct: ptr.To[int32](0), scope: 100, ok: true},
		{name: "deletes judged first", maxDeletes: ptr.To[int32](0), maxUpdatePct: ptr.To[int32](0), deletes: 1, updates: 1, scope: 1, reason: "maxShadowDeletes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reason, ok := canary.ShadowGate(v1alpha1.CanaryAnalysis{MaxShadowDeletes: c.maxDeletes, MaxShadowUpdatesPercent: c.maxUpdatePct}, c.deletes, c.updates, c.scope)
			if ok != c.ok || (!ok && !strings.Contains(reason, c.reason)) {
				t.Fatalf("ShadowGate = (%q, %t), want ok=%t reason containing %q", reason, ok, c.ok, c.reason)
			}
		})
	}
}

func cmJSON(t testing.TB, rv string, data map[string]string, status bool) []byte {
	t.Helper()
	m := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "c", "namespace": "ns", "uid": "u-1", "resourceVersion": rv,
			"managedFields": []any{map[string]any{"manager": rv}}},
		"data": data,
	}
	if status {
		m["status"] = map[string]any{"seen": rv}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestShadowChange(t *testing.T) {
	t.Parallel()
	old := cmJSON(t, "1", map[string]string{"a": "1"}, true)
	cases := []struct {
		name           string
		op             admissionv1.Operation
		oldRaw, newRaw []byte
		includeStatus  bool
		empty, err     bool
		payload        string // substring of the payload ("" = none expected)
		uid            string
	}{
		{name: "create keeps the object, drops managed fields", op: admissionv1.Create, newRaw: old, payload: `"data":{"a":"1"}`},
		{name: "update of data", op: admissionv1.Update, oldRaw: old, newRaw: cmJSON(t, "1", map[string]string{"a": "2"}, true), payload: `"path":"/data/a"`},
		{name: "update of managed fields and resourceVersion only is empty", op: admissionv1.Update, oldRaw: old, newRaw: cmJSON(t, "2", map[string]string{"a": "1"}, true), empty: true},
		{name: "status change ignored by default", op: admissionv1.Update, oldRaw: cmJSON(t, "1", nil, true), newRaw: func() []byte {
			var m map[string]any
			_ = json.Unmarshal(cmJSON(t, "1", nil, true), &m)
			m["status"] = map[string]any{"seen": "other"}
			b, _ := json.Marshal(m)
			return b
		}(), empty: true},
		{name: "status change recorded when asked", op: admissionv1.Update, includeStatus: true, oldRaw: cmJSON(t, "1", nil, true), newRaw: func() []byte {
			var m map[string]any
			_ = json.Unmarshal(cmJSON(t, "1", nil, true), &m)
			m["status"] = map[string]any{"seen": "other"}
			b, _ := json.Marshal(m)
			return b
		}(), payload: `"/status/seen"`},
		{name: "delete is the identity", op: admissionv1.Delete, oldRaw: old, uid: "u-1"},
		{name: "garbage is an error", op: admissionv1.Update, oldRaw: []byte("{"), newRaw: old, err: true},
		{name: "missing object is an error", op: admissionv1.Create, err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ch := canary.ShadowChange(c.op, c.oldRaw, c.newRaw, c.includeStatus)
			if (ch.Err != nil) != c.err {
				t.Fatalf("err = %v, want error %t", ch.Err, c.err)
			}
			if ch.Empty != c.empty {
				t.Fatalf("empty = %t, want %t (payload %s)", ch.Empty, c.empty, ch.Payload)
			}
			if c.payload != "" && !strings.Contains(string(ch.Payload), c.payload) {
				t.Fatalf("payload %s, want it to contain %s", ch.Payload, c.payload)
			}
			if c.payload == "" && len(ch.Payload) > 0 && c.op != admissionv1.Create {
				t.Fatalf("payload %s, want none", ch.Payload)
			}
			if strings.Contains(string(ch.Payload), "managedFields") {
				t.Fatalf("payload %s carries managed fields", ch.Payload)
			}
			if ch.UID != c.uid && c.uid != "" {
				t.Fatalf("uid %q, want %q", ch.UID, c.uid)
			}
		})
	}
}

func shadowReq(op admissionv1.Operation, resource, ns, name string, old, obj []byte) *admissionv1.AdmissionRequest {
	return &admissionv1.AdmissionRequest{
		Operation: op, Resource: metav1.GroupVersionResource{Version: "v1", Resource: resource},
		Namespace: ns, Name: name, OldObject: runtime.RawExtension{Raw: old}, Object: runtime.RawExtension{Raw: obj},
	}
}

func TestShadowLogBoundsAndCounts(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cc := &v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: v1alpha1.ControllerCanarySpec{
		Canary: v1alpha1.ControllerVersion{Revision: "v2"}, Shadow: &v1alpha1.CanaryShadow{MaxObjects: 3}}}
	l := canary.NewShadowLog(cc, clk)
	old := cmJSON(t, "1", map[string]string{"a": "1"}, false)
	for i := range 5 {
		clk.SetTime(clk.Now().Add(time.Second))
		// each object deleted twice: a denied controller retries
		for range 2 {
			l.Record("", shadowReq(admissionv1.Delete, "configmaps", "ns", fmt.Sprintf("c%d", i), old, nil))
		}
	}
	l.Record("member-a", shadowReq(admissionv1.Update, "configmaps", "ns", "c0", old, cmJSON(t, "1", map[string]string{"a": "2"}, false)))
	l.Record("", shadowReq(admissionv1.Update, "configmaps", "ns", "c4", old, cmJSON(t, "2", map[string]string{"a": "1"}, false)))

	rec := l.Snapshot()
	if rec.Attempts != 12 {
		t.Fatalf("attempts = %d, want 12", rec.Attempts)
	}
	// 6 objects (5 home + 1 member) in a bound of 3: the 3 least recently
	// seen (c0, c1, c2 at home) are dropped.
	if rec.Dropped != 3 || len(rec.Entries) != 3 {
		t.Fatalf("dropped %d, entries %d, want 3 and 3", rec.Dropped, len(rec.Entries))
	}
	for _, e := range rec.Entries {
		if e.Cluster == "" && (e.Name == "c0" || e.Name == "c1" || e.Name == "c2") {
			t.Fatalf("entry %s/%s kept, want the least recently seen dropped", e.Cluster, e.Name)
		}
	}
	_, updates, deletes := rec.Totals()
	if deletes != 5 || updates != 1 {
		t.Fatalf("totals deletes %d updates %d, want 5 (exact despite the drops) and 1 (the no-op update is not a change)", deletes, updates)
	}
	var home, member *v1alpha1.ShadowResourceCount
	for i := range rec.Resources {
		switch rec.Resources[i].Resource {
		case "configmaps":
			home = &rec.Resources[i]
		case "configmaps@member-a":
			member = &rec.Resources[i]
		}
	}
	if home == nil || home.Attempts != 11 || home.Deletes != 5 || member == nil || member.Updates != 1 {
		t.Fatalf("resources %+v", rec.Resources)
	}
	sum := rec.Summary(1)
	if len(sum.Top) != 1 || sum.Top[0].Resource != "configmaps@member-a" || sum.Top[0].Ops != "UPDATE" || sum.Dropped != 3 {
		t.Fatalf("summary %+v, want the member's update (the only change with bytes) on top", sum)
	}
}

func TestEncodeShadowRecordFitsAConfigMap(t *testing.T) {
	t.Parallel()
	rec := &canary.ShadowRecord{Canary: "x"}
	big := json.RawMessage(`"` + strings.Repeat("x", 15<<10) + `"`)
	for i := range 200 {
		rec.Entries = append(rec.Entries, canary.ShadowEntry{Resource: "configmaps", Name: fmt.Sprint(i), Object: big, Creates: 1})
	}
	b, err := canary.EncodeShadowRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 900<<10 {
		t.Fatalf("encoded %d bytes, want ≤ 900 KiB", len(b))
	}
	var got canary.ShadowRecord
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.PayloadsStripped || len(got.Entries) != 200 || got.Dropped != 0 {
		t.Fatalf("stripped %t, entries %d, dropped %d; want payloads stripped and every entry kept", got.PayloadsStripped, len(got.Entries), got.Dropped)
	}
	small := &canary.ShadowRecord{Canary: "x", Entries: []canary.ShadowEntry{{Resource: "configmaps", Name: "a", Object: json.RawMessage(`{"a":1}`)}}}
	b, _ = canary.EncodeShadowRecord(small)
	if !strings.Contains(string(b), `"object":{"a":1}`) {
		t.Fatalf("small record lost its payload: %s", b)
	}
}
