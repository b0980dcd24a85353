package canary_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
)

// TestShadowEnforcement runs the shadow on a real kube-apiserver, with the
// spec at the API's defaults (spec.shadow: {}): while the annotation is
// set, every write of the canary's identity — on main objects, their
// status and children, create, update, delete — is denied and recorded;
// the stable version writes as before; once it is cleared the canary is
// fenced by ownership again and may create main objects.
func TestShadowEnforcement(t *testing.T) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cc := canaryAtDefaults("shadow")
	cc.Spec.Shadow = &v1alpha1.CanaryShadow{}
	if err := w.admin.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	if err := w.admin.Get(ctx, client.ObjectKey{Name: cc.Name}, cc); err != nil {
		t.Fatal(err)
	}
	if d := canary.ShadowDuration(cc); d != time.Minute || cc.Spec.Shadow.MaxObjects != canary.DefaultShadowMaxObjects {
		t.Fatalf("spec.shadow defaults: duration %s, maxObjects %d; want 1m and %d", d, cc.Spec.Shadow.MaxObjects, canary.DefaultShadowMaxObjects)
	}
	r := route("r1", "")
	if err := w.admin.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	child := sample.Child(r, sample.V1)
	if err := w.admin.Create(ctx, child); err != nil {
		t.Fatal(err)
	}
	log := canary.NewShadowLog(cc, nil)
	startEnforcementWith(t, w, cc, func(wh *canary.Webhook) { wh.Shadow = log })
	eventually(t, "policy denies v2 on a stable route", func() error {
		err := relabelHost(ctx, w.v2, "r1", "x.example")
		if err == nil || !strings.Contains(err.Error(), "owned by revision v1") {
			return fmt.Errorf("v2's patch of r1: %w", err)
		}
		return nil
	})

	if err := canary.SetShadowAnnotation(ctx, w.admin, cc.Name, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the shadow denies v2's writes", func() error {
		err := relabelHost(ctx, w.v2, "r1", "shadow.example")
		if err == nil || !strings.Contains(err.Error(), "shadow run") {
			return fmt.Errorf("v2's patch of r1: %w", err)
		}
		return nil
	})
	log.Reset()

	// The canary's writes: all denied with the shadow's reason.
	wantDenied(t, relabelHost(ctx, w.v2, "r1", "shadow.example"), "controller canary shadow: shadow run: revision v2 may not UPDATE routes routes/r1")
	wantDenied(t, w.v2.Status().Patch(ctx, route("r1", ""), client.RawPatch("application/merge-patch+json", []byte(`{"status":{"renderer":"v2"}}`))), "shadow run")
	wantDenied(t, w.v2.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: child.Name}}), "may not DELETE configmaps")
	wantDenied(t, w.v2.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: child.Name}}), "shadow run")
	extra := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "extra"}, Data: map[string]string{"by": "v2"}}
	wantDenied(t, w.v2.Create(ctx, extra), "may not CREATE configmaps")
	wantDenied(t, w.v2.Create(ctx, route("new-by-v2", "")), "may not CREATE routes")
	wantDenied(t, w.v2.Delete(ctx, route("r1", "")), "may not DELETE routes")
	// A dry run (handover's own probe) is denied but not recorded.
	wantDenied(t, w.v2.Delete(ctx, route("r1", ""), client.DryRunAll), "shadow run")

	// The stable version is not in the shadow.
	if err := relabelHost(ctx, w.v1, "r1", "stable.example"); err != nil {
		t.Fatalf("v1 on its own route during the shadow: %v", err)
	}
	for _, o := range []client.Object{&corev1.ConfigMap{}, &sample.Route{}} {
		key := client.ObjectKey{Namespace: testNS, Name: child.Name}
		if _, ok := o.(*sample.Route); ok {
			key.Name = "r1"
		}
		if err := w.admin.Get(ctx, key, o); err != nil {
			t.Fatalf("%s after the shadow's denied deletes: %v", key, err)
		}
	}

	rec := log.Snapshot()
	if rec.Attempts != 7 {
		t.Fatalf("attempts %d, want 7 (the dry run not recorded); record %+v", rec.Attempts, rec)
	}
	byKey := map[string]canary.ShadowEntry{}
	for _, e := range rec.Entries {
		byKey[e.Resource+" "+e.Key()] = e
	}
	routes := "routes." + sample.GroupVersion.Group
	checks := []struct {
		key                      string
		creates, updates, delete int64
		noops                    int64
		payload                  string
	}{
		{key: routes + " routes/r1", updates: 1, delete: 1, payload: `"/spec/host"`},
		{key: routes + "/status routes/r1", noops: 1},
		{key: "configmaps routes/" + child.Name, delete: 2},
		{key: "configmaps routes/" + extra.Name, creates: 1, payload: `"name":"` + extra.Name + `"`},
		{key: routes + " routes/new-by-v2", creates: 1},
	}
	for _, c := range checks {
		e, ok := byKey[c.key]
		if !ok {
			t.Fatalf("no entry %q in %v", c.key, keys(byKey))
		}
		if e.Creates != c.creates || e.Updates != c.updates || e.Deletes != c.delete || e.Noops != c.noops {
			t.Fatalf("%s: creates %d updates %d deletes %d noops %d, want %d %d %d %d", c.key, e.Creates, e.Updates, e.Deletes, e.Noops, c.creates, c.updates, c.delete, c.noops)
		}
		if got := string(e.Patch) + string(e.Object); !strings.Contains(got, c.payload) {
			t.Fatalf("%s: payload %s, want %s", c.key, got, c.payload)
		}
		if c.delete > 0 && e.UID == "" {
			t.Fatalf("%s: a delete without the object's uid", c.key)
		}
	}
	if _, _, deletes := rec.Totals(); deletes != 2 {
		t.Fatalf("distinct deletes %d, want 2 (the child twice, the route once)", deletes)
	}

	// Shadow over: ownership fences the canary again; creating a main
	// object is not fenced.
	if err := canary.SetShadowAnnotation(ctx, w.admin, cc.Name, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the policy's ownership rule is back", func() error {
		err := relabelHost(ctx, w.v2, "r1", "y.example")
		if err == nil || !strings.Contains(err.Error(), "owned by revision v1") {
			return fmt.Errorf("v2's patch of r1: %w", err)
		}
		return nil
	})
	eventually(t, "v2 creates a main object outside the shadow", func() error {
		return client.IgnoreAlreadyExists(w.v2.Create(ctx, route("new-by-v2", "")))
	})
}

func keys(m map[string]canary.ShadowEntry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
