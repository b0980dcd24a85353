package canary_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/canarytest"
	"github.com/handover-dev/handover/internal/canary/sample"
)

const (
	userV1 = "sample-v1"
	userV2 = "sample-v2"
	testNS = "routes"
)

// world is a real kube-apiserver with the Route and ControllerCanary CRDs,
// RBAC for both versions' users, and clients per identity.
type world struct {
	admin, v1, v2 client.Client
	cfg           *rest.Config
}

func startWorld(t *testing.T) *world { return startWorldTB(t) }

func startWorldTB(t testing.TB) *world {
	t.Helper()
	cfg, admin := canarytest.StartAPIServer(t)
	mk := func(c *rest.Config) client.Client {
		cl, err := client.New(c, client.Options{Scheme: admin.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	w := &world{cfg: cfg, admin: admin, v1: mk(sample.Impersonate(cfg, userV1)), v2: mk(sample.Impersonate(cfg, userV2))}
	ctx := context.Background()
	if err := sample.Grant(ctx, w.admin, userV1, userV2); err != nil {
		t.Fatal(err)
	}
	if err := w.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}); err != nil {
		t.Fatal(err)
	}
	return w
}

func route(name, owner string) *sample.Route {
	r := &sample.Route{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name},
		Spec:       sample.RouteSpec{Host: name + ".example", Backend: "10.0.0.1:80"},
	}
	if owner != "" {
		r.Labels = map[string]string{v1alpha1.LabelControllerRevision: owner}
	}
	return r
}

// canaryAtDefaults is a ControllerCanary with only the required fields: the
// apiserver fills in the defaults.
func canaryAtDefaults(name string) *v1alpha1.ControllerCanary {
	return &v1alpha1.ControllerCanary{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ControllerCanarySpec{
			Stable:              v1alpha1.ControllerVersion{Revision: "v1", Identity: userV1},
			Canary:              v1alpha1.ControllerVersion{Revision: "v2", Identity: userV2},
			Resources:           []v1alpha1.CanaryResource{{Group: sample.GroupVersion.Group, Version: "v1", Resource: "routes"}},
			ControlledResources: []v1alpha1.CanaryResource{{Version: "v1", Resource: "configmaps"}},
		},
	}
}

// startEnforcement serves the webhook on 127.0.0.1, installs the policy,
// binding and webhook configuration, and waits until the policy bites.
func startEnforcement(t *testing.T, w *world, cc *v1alpha1.ControllerCanary) *canary.Ledger {
	return startEnforcementTB(t, w, cc)
}

func startEnforcementTB(t testing.TB, w *world, cc *v1alpha1.ControllerCanary) *canary.Ledger {
	t.Helper()
	return startEnforcementWith(t, w, cc, nil)
}

// startEnforcementWith is startEnforcementTB; set (may be nil) completes
// the webhook (a shadow record, a member cluster) before it is served.
func startEnforcementWith(t testing.TB, w *world, cc *v1alpha1.ControllerCanary, set func(*canary.Webhook)) *canary.Ledger {
	t.Helper()
	ctx := context.Background()
	srv, err := canary.StartServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ledger := canary.NewLedger(canary.BudgetOf(cc), nil, nil)
	wh := &canary.Webhook{
		Canary: func(ctx context.Context) (*v1alpha1.ControllerCanary, error) {
			var got v1alpha1.ControllerCanary
			err := w.admin.Get(ctx, client.ObjectKey{Name: cc.Name}, &got)
			return &got, err
		},
		Reader:   w.admin,
		Ledger:   ledger,
		Kinds:    map[schema.GroupKind]schema.GroupVersionKind{{Group: sample.GroupVersion.Group, Kind: "Route"}: sample.GroupVersion.WithKind("Route")},
		Children: []schema.GroupVersionKind{corev1.SchemeGroupVersion.WithKind("ConfigMap")},
	}
	if set != nil {
		set(wh)
	}
	srv.Handle(canary.WebhookPath(cc.Name), wh)
	if err := canary.Install(ctx, w.admin, cc, srv.URL(), srv.CABundle()); err != nil {
		t.Fatal(err)
	}
	return ledger
}

// eventually polls f every 100 ms for up to 30 s until it returns nil.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after 30s", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func relabelHost(ctx context.Context, c client.Client, name, host string) error {
	r := &sample.Route{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name}}
	return c.Patch(ctx, r, client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"host":%q}}`, host)))
}

func wantDenied(t *testing.T, err error, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("request allowed, want denied (%q)", contains)
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Fatalf("error %v is not Forbidden", err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not contain %q", err.Error(), contains)
	}
}

func TestEnforcement(t *testing.T) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cc := canaryAtDefaults("routes")
	cc.Spec.DeletionBudget = v1alpha1.DeletionBudget{MaxDeletes: ptr.To[int32](2), Window: &metav1.Duration{Duration: time.Hour}}
	if err := w.admin.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	stableRoute, canaryRoute := route("stable-route", ""), route("canary-route", "v2")
	for _, r := range []*sample.Route{stableRoute, canaryRoute} {
		if err := w.admin.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := w.admin.Create(ctx, sample.Child(r, sample.V1)); err != nil {
			t.Fatal(err)
		}
	}
	ledger := startEnforcement(t, w, cc)
	eventually(t, "policy denies v2 on a stable route", func() error {
		err := relabelHost(ctx, w.v2, "stable-route", "x.example")
		if err == nil {
			return fmt.Errorf("v2 patched stable-route")
		}
		if !strings.Contains(err.Error(), "owned by revision v1") {
			return err
		}
		return nil
	})

	t.Run("policy: owner allowed, non-owner denied", func(t *testing.T) {
		if err := relabelHost(ctx, w.v1, "stable-route", "a.example"); err != nil {
			t.Fatalf("v1 on its own route: %v", err)
		}
		if err := relabelHost(ctx, w.v2, "canary-route", "b.example"); err != nil {
			t.Fatalf("v2 on its own route: %v", err)
		}
		wantDenied(t, relabelHost(ctx, w.v1, "canary-route", "c.example"), "sample-v1 (revision v1) may not UPDATE routes routes/canary-route: owned by revision v2")
		wantDenied(t, w.v1.Delete(ctx, route("canary-route", "")), "may not DELETE routes routes/canary-route: owned by revision v2")
		r := route("canary-route", "")
		wantDenied(t, w.v1.Status().Patch(ctx, r, client.RawPatch("application/merge-patch+json", []byte(`{"status":{"renderer":"v1"}}`))), "owned by revision v2")
	})

	t.Run("policy: a version may not move an object", func(t *testing.T) {
		r := route("canary-route", "")
		wantDenied(t, w.v2.Patch(ctx, r, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"handover.dev/controller-revision":null}}}`))),
			"may not change the label handover.dev/controller-revision")
	})

	t.Run("webhook: children follow their owner", func(t *testing.T) {
		extra := sample.Child(canaryRoute, sample.V2)
		extra.Name = "canary-route-extra"
		if err := w.v2.Create(ctx, extra); err != nil {
			t.Fatalf("v2 creating a child of its own route: %v", err)
		}
		intruder := sample.Child(stableRoute, sample.V2)
		intruder.Name = "stable-route-intruder"
		wantDenied(t, w.v2.Create(ctx, intruder), "its owner Route routes/stable-route belongs to revision v1")
		var cm corev1.ConfigMap
		if err := w.admin.Get(ctx, client.ObjectKey{Namespace: testNS, Name: sample.ChildName("stable-route")}, &cm); err != nil {
			t.Fatal(err)
		}
		wantDenied(t, w.v2.Delete(ctx, &cm), "may not DELETE configmaps routes/stable-route-route")
		if err := w.admin.Get(ctx, client.ObjectKeyFromObject(&cm), &cm); err != nil {
			t.Fatalf("denied delete happened anyway: %v", err)
		}
	})

	t.Run("webhook: the deletion budget trips the breaker", func(t *testing.T) {
		for i := range 3 {
			c := sample.Child(canaryRoute, sample.V2)
			c.Name = fmt.Sprintf("canary-route-del-%d", i)
			if err := w.v2.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: fmt.Sprintf("canary-route-del-%d", i)}}
			if err := w.v2.Delete(ctx, c); err != nil {
				t.Fatalf("delete %d within the budget: %v", i+1, err)
			}
		}
		c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "canary-route-del-2"}}
		wantDenied(t, w.v2.Delete(ctx, c), "exceeds deletionBudget.maxDeletes 2")
		if _, open := ledger.Tripped("v2"); !open {
			t.Fatal("breaker of v2 not open after the over-budget delete")
		}
		if got := ledger.Count("v2"); got != 2 {
			t.Fatalf("deletes counted for v2 = %d, want 2", got)
		}
	})

	t.Run("revert flips enforcement in one write", func(t *testing.T) {
		if err := canary.SetRevert(ctx, w.admin, cc.Name, true); err != nil {
			t.Fatal(err)
		}
		eventually(t, "v2 denied on its own route after revert", func() error {
			err := relabelHost(ctx, w.v2, "canary-route", "d.example")
			if err == nil {
				return fmt.Errorf("v2 still writes canary-route")
			}
			if !strings.Contains(err.Error(), "owned by revision v1") {
				return err
			}
			return nil
		})
		// The label still says v2 (relabelling is background work), yet v1
		// owns the object: the switch alone moved it.
		var r sample.Route
		if err := w.admin.Get(ctx, client.ObjectKey{Namespace: testNS, Name: "canary-route"}, &r); err != nil {
			t.Fatal(err)
		}
		if r.Labels[v1alpha1.LabelControllerRevision] != "v2" {
			t.Fatalf("label changed to %q; the test wants to show the switch alone works", r.Labels[v1alpha1.LabelControllerRevision])
		}
		if err := relabelHost(ctx, w.v1, "canary-route", "e.example"); err != nil {
			t.Fatalf("v1 after revert: %v", err)
		}
		back := sample.Child(canaryRoute, sample.V1)
		back.Name = "canary-route-restored"
		if err := w.v1.Create(ctx, back); err != nil {
			t.Fatalf("v1 creating a child of a reverted route: %v", err)
		}
	})
}

// TestDeletingAnOwnerChargesItsChildren: the garbage collector's deletes of
// children count against the version that deleted their owner, so a delete
// of a Route with two children costs 3 of the budget.
func TestDeletingAnOwnerChargesItsChildren(t *testing.T) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cc := canaryAtDefaults("gc")
	cc.Spec.DeletionBudget = v1alpha1.DeletionBudget{MaxDeletes: ptr.To[int32](2), Window: &metav1.Duration{Duration: time.Hour}}
	if err := w.admin.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	owner, lone := route("owner", "v2"), route("lone", "v2")
	for _, r := range []*sample.Route{owner, lone} {
		if err := w.admin.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"owner-a", "owner-b"} {
		c := sample.Child(owner, sample.V2)
		c.Name = name
		if err := w.admin.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	ledger := startEnforcement(t, w, cc)
	eventually(t, "webhook answers", func() error {
		c := sample.Child(lone, sample.V2)
		c.Name = "probe"
		return w.v2.Create(ctx, c)
	})
	wantDenied(t, w.v2.Delete(ctx, route("owner", "")), "deletes 1-3 in the last 1h0m0s (an owner and 2 children) exceed deletionBudget.maxDeletes 2")
	if _, open := ledger.Tripped("v2"); !open {
		t.Fatal("breaker not open after the over-budget owner delete")
	}
}

func TestControllerCanaryDefaultsAndRejects(t *testing.T) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cc := canaryAtDefaults("defaults")
	if err := w.admin.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	var got v1alpha1.ControllerCanary
	if err := w.admin.Get(ctx, client.ObjectKey{Name: "defaults"}, &got); err != nil {
		t.Fatal(err)
	}
	var weights []int32
	for _, s := range got.Spec.Steps {
		weights = append(weights, s.Weight)
	}
	b := got.Spec.DeletionBudget
	if fmt.Sprint(weights) != "[5 25 50 100]" || b.MaxDeletes == nil || *b.MaxDeletes != 10 ||
		b.Window == nil || b.Window.Duration != time.Minute || got.Spec.Analysis.MaxErrorPercent != 5 || got.Spec.Revert {
		t.Fatalf("defaults = steps %v, budget %v/%v, analysis %+v, revert %v", weights, b.MaxDeletes, b.Window, got.Spec.Analysis, got.Spec.Revert)
	}
	if errs := canary.Validate(&got); len(errs) != 0 {
		t.Fatalf("Validate at the API's defaults: %v", errs)
	}

	for _, c := range []struct {
		name   string
		mutate func(*v1alpha1.ControllerCanary)
		want   string
	}{
		{"same-identity", func(c *v1alpha1.ControllerCanary) { c.Spec.Canary.Identity = userV1 }, "stable.identity and canary.identity must differ"},
		{"weight", func(c *v1alpha1.ControllerCanary) { c.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 101}} }, "spec.steps[0].weight: Invalid value: 101"},
		{"no-resources", func(c *v1alpha1.ControllerCanary) { c.Spec.Resources = nil }, "spec.resources: Required value"},
	} {
		cc := canaryAtDefaults(c.name)
		c.mutate(cc)
		err := w.admin.Create(ctx, cc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: create error %v, want one containing %q", c.name, err, c.want)
		}
	}

	// An unknown resource passes the schema; CheckResources names it.
	cc = canaryAtDefaults("unknown")
	cc.Spec.Resources = append(cc.Spec.Resources, v1alpha1.CanaryResource{Group: "nope.example", Version: "v1", Resource: "gadgets"})
	mapper := w.admin.RESTMapper()
	_, errs := canary.CheckResources(cc, mapper)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "spec.resources[1]: Not found") || !strings.Contains(errs[0].Error(), "nope.example/v1, Resource=gadgets") {
		t.Fatalf("CheckResources = %v, want one NotFound naming spec.resources[1] and the GVR", errs)
	}
}
