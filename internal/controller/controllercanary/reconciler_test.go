package controllercanary_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/canarytest"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/controller/controllercanary"
)

const ns = "routes"

func setup(t *testing.T) (*rest.Config, client.Client, *runtime.Scheme) {
	t.Helper()
	cfg, c := canarytest.StartAPIServer(t)
	s := c.Scheme()
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		r := &sample.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("route-%02d", i)}, Spec: sample.RouteSpec{Host: "h", Backend: "b:1"}}
		if err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		// As a controller that reconciled it would (the reconciled gate at
		// its default reads status.observedGeneration).
		r.Status.ObservedGeneration = r.Generation
		if err := c.Status().Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, c, s
}

// startServer serves the canaries' webhooks on 127.0.0.1 until the test ends.
func startServer(t *testing.T) *canary.Server {
	t.Helper()
	srv, err := canary.StartServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// startManager runs the controller in a manager until the returned stop is
// called (the "kill").
func startManager(t *testing.T, cfg *rest.Config, s *runtime.Scheme, srv *canary.Server) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controllercanary.Add(mgr, controllercanary.Options{Server: srv, SkipNameValidation: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func newCanary(name string) *v1alpha1.ControllerCanary {
	return &v1alpha1.ControllerCanary{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ControllerCanarySpec{
			Stable:              v1alpha1.ControllerVersion{Revision: "v1", Identity: "sample-v1"},
			Canary:              v1alpha1.ControllerVersion{Revision: "v2", Identity: "sample-v2"},
			Resources:           []v1alpha1.CanaryResource{{Group: sample.GroupVersion.Group, Version: "v1", Resource: "routes"}},
			ControlledResources: []v1alpha1.CanaryResource{{Version: "v1", Resource: "configmaps"}},
		},
	}
}

func waitFor(t *testing.T, c client.Client, name, what string, ok func(*v1alpha1.ControllerCanary) bool) *v1alpha1.ControllerCanary {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	cc := &v1alpha1.ControllerCanary{}
	for time.Now().Before(deadline) {
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, cc); err == nil && ok(cc) {
			return cc
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("controllercanary %s: %s not reached in 60s; status %+v", name, what, cc.Status)
	return nil
}

func labelled(t *testing.T, c client.Client, rev string) int {
	t.Helper()
	var list sample.RouteList
	if err := c.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelControllerRevision: rev}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

func TestBadSpecsChangeNothing(t *testing.T) {
	cfg, c, s := setup(t)
	srv := startServer(t)
	startManager(t, cfg, s, srv)
	ctx := context.Background()

	unknown := newCanary("unknown")
	unknown.Spec.Resources[0].Resource = "gadgets"
	nothing := newCanary("nothing")
	nothing.Spec.Resources[0].ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "none"}}
	for _, c2 := range []struct {
		cc     *v1alpha1.ControllerCanary
		reason string
		msg    string
	}{
		{unknown, controllercanary.ReasonUnknownResource, "spec.resources[0]: Not found"},
		{nothing, controllercanary.ReasonNothingSelected, "spec.resources[0] (sample.handover.dev/v1, Resource=routes) selects no object"},
	} {
		if err := c.Create(ctx, c2.cc); err != nil {
			t.Fatal(err)
		}
		got := waitFor(t, c, c2.cc.Name, "Valid=False", func(cc *v1alpha1.ControllerCanary) bool {
			return meta.IsStatusConditionFalse(cc.Status.Conditions, v1alpha1.CanaryConditionValid)
		})
		cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.CanaryConditionValid)
		if cond.Reason != c2.reason || !strings.Contains(cond.Message, c2.msg) || !strings.Contains(cond.Message, c2.cc.Name) {
			t.Errorf("%s: condition %s/%q, want %s and a message naming the object and %q", c2.cc.Name, cond.Reason, cond.Message, c2.reason, c2.msg)
		}
		if len(got.Status.Steps) != 0 {
			t.Errorf("%s: a plan started on a bad spec: %+v", c2.cc.Name, got.Status.Steps)
		}
	}
	var pols = &metav1.PartialObjectMetadataList{}
	pols.SetGroupVersionKind(schemaGVK("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyList"))
	if err := c.List(ctx, pols); err != nil {
		t.Fatal(err)
	}
	if len(pols.Items) != 0 || labelled(t, c, "v2") != 0 {
		t.Fatalf("bad specs changed the cluster: %d policies, %d routes relabelled", len(pols.Items), labelled(t, c, "v2"))
	}
}

// TestPromoteResumeAndRevert: a canary promotes at the API's default steps;
// another is killed mid-step, resumes in a new manager from its status
// checkpoint, and rolls back when spec.revert is set.
func TestPromoteResumeAndRevert(t *testing.T) {
	cfg, c, s := setup(t)
	srv := startServer(t)
	ctx := context.Background()

	stop := startManager(t, cfg, s, srv)
	if err := c.Create(ctx, newCanary("defaults")); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, "defaults", "Succeeded", func(cc *v1alpha1.ControllerCanary) bool { return cc.Status.Outcome == "Succeeded" })
	if n := labelled(t, c, "v2"); n != 40 {
		t.Fatalf("after promotion v2 owns %d of 40 routes", n)
	}
	if len(got.Status.Steps) != 6 || got.Status.Steps[5].Name != canary.StepPromote {
		t.Fatalf("checkpoint steps = %+v", got.Status.Steps)
	}
	// Hand everything back by hand for the next canary.
	if err := canary.Uninstall(ctx, c, "defaults"); err != nil {
		t.Fatal(err)
	}
	if err := relabelAll(ctx, c, ""); err != nil {
		t.Fatal(err)
	}

	cc := newCanary("resume")
	cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 50, Pause: &metav1.Duration{Duration: time.Hour}}, {Weight: 100}}
	if err := c.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	before := waitFor(t, c, "resume", "first weight step applied", func(cc *v1alpha1.ControllerCanary) bool {
		return len(cc.Status.Steps) > 1 && cc.Status.Steps[0].Phase == "Done" && cc.Status.Steps[1].Phase == "Applying" && labelledNow(c, "v2") > 0 &&
			cc.Status.PauseStartedAt != nil
	})
	stop() // the kill
	owned := labelled(t, c, "v2")
	// A fresh run would rewrite every step's updatedAt; a resumed one leaves
	// the Done enforce step alone.
	enforcedAt := before.Status.Steps[0].UpdatedAt.Time
	time.Sleep(1100 * time.Millisecond) // metav1.Time has second precision

	startManager(t, cfg, s, srv)
	waitResumedEvent(t, c, "resume")
	got = waitFor(t, c, "resume", "resumed", func(cc *v1alpha1.ControllerCanary) bool {
		return meta.IsStatusConditionTrue(cc.Status.Conditions, v1alpha1.CanaryConditionProgressing) && cc.Status.Steps[1].Phase == "Applying"
	})
	if got.Status.Steps[0].Phase != "Done" || !got.Status.Steps[0].UpdatedAt.Time.Equal(enforcedAt) || labelled(t, c, "v2") != owned {
		t.Fatalf("resume did not continue where it stopped: steps %+v, v2 owns %d (was %d)", got.Status.Steps, labelled(t, c, "v2"), owned)
	}
	// The resumed worker's gate runs again (poll 100 ms); it must keep the
	// persisted pause start, not begin a new hour.
	time.Sleep(time.Second)
	got = waitFor(t, c, "resume", "pause kept", func(*v1alpha1.ControllerCanary) bool { return true })
	if got.Status.PauseStep != before.Status.PauseStep || !got.Status.PauseStartedAt.Equal(before.Status.PauseStartedAt) {
		t.Fatalf("pause restarted: %s at %v, was %s at %v", got.Status.PauseStep, got.Status.PauseStartedAt, before.Status.PauseStep, before.Status.PauseStartedAt)
	}
	if err := canary.SetRevert(ctx, c, "resume", true); err != nil {
		t.Fatal(err)
	}
	got = waitFor(t, c, "resume", "RolledBack", func(cc *v1alpha1.ControllerCanary) bool { return cc.Status.Outcome == "RolledBack" })
	if !strings.Contains(got.Status.Reason, "spec.revert is set") || labelled(t, c, "v2") != 0 {
		t.Fatalf("revert: outcome reason %q, v2 still owns %d routes", got.Status.Reason, labelled(t, c, "v2"))
	}
}

// waitResumedEvent waits for the "PlanStarted: plan resumed" event the new
// manager's worker records when it loads the status checkpoint.
func waitResumedEvent(t *testing.T, c client.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var evs corev1.EventList
		if err := c.List(context.Background(), &evs); err == nil {
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == name && e.Reason == "PlanStarted" && e.Message == "plan resumed" {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("controllercanary %s: no 'plan resumed' event after the restart", name)
}

func labelledNow(c client.Client, rev string) int {
	var list sample.RouteList
	if err := c.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelControllerRevision: rev}); err != nil {
		return 0
	}
	return len(list.Items)
}

func relabelAll(ctx context.Context, c client.Client, rev string) error {
	var list sample.RouteList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range list.Items {
		r := &list.Items[i]
		patch := []byte(`{"metadata":{"labels":{"handover.dev/controller-revision":null}}}`)
		if rev != "" {
			patch = fmt.Appendf(nil, `{"metadata":{"labels":{"handover.dev/controller-revision":%q}}}`, rev)
		}
		if err := c.Patch(ctx, r, client.RawPatch("application/merge-patch+json", patch)); err != nil {
			return err
		}
	}
	return nil
}

func schemaGVK(g, v, k string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: g, Version: v, Kind: k}
}
