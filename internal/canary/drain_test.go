package canary_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/plan"
	pkgcanary "github.com/handover-dev/handover/pkg/canary"
)

// TestDrainHandshake: with spec.stable.acknowledgesDrain, a step marks the
// objects it hands over and moves none while the stable version has not
// acknowledged (its controller is not running: the step holds on the
// Drained gate). Once the stable version runs as a cooperative controller
// (pkg/canary: cache of its own objects, WithDrain), it acknowledges every
// marked Route as user sample-v1 (the policy lets the owner label its own
// object), and the plan promotes: every Route is v2's, no drain label is
// left, and no Route moved before its acknowledgement.
func TestDrainHandshake(t *testing.T) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range 20 {
		r := route(fmt.Sprintf("r-%02d", i), "")
		if err := w.admin.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Status.ObservedGeneration = r.Generation
		if err := w.admin.Status().Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	cc := canaryAtDefaults("drain")
	cc.Spec.Stable.AcknowledgesDrain = true
	cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 100}}
	cfg := planConfig(ctx, t, w, cc)

	var (
		mu    sync.Mutex
		acked = map[string]time.Time{} // route -> when v1 acknowledged
		early []string                 // routes moved before their acknowledgement
	)
	gates := make(chan plan.Result, 1000)
	cfg.OnGate = func(name string, r plan.Result) {
		if name == canary.GateDrained {
			select {
			case gates <- r:
			default:
			}
		}
	}
	cfg.OnMove = func(m canary.Move) {
		name := m.Key[strings.LastIndex(m.Key, "/")+1:]
		mu.Lock()
		defer mu.Unlock()
		if at, ok := acked[name]; !ok || m.Sent.Before(at) {
			early = append(early, name)
		}
	}
	p, err := canary.NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *plan.State, 1)
	go func() {
		st, err := (&plan.Runner{}).Run(ctx, p)
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	// Without the stable version's acknowledgement nothing moves.
	for r := range gates {
		if r.State == plan.CheckNotYet && strings.Contains(r.Reason, "20 objects wait for revision v1 to acknowledge") {
			break
		}
	}
	if n := labelledWith(ctx, t, w.admin, v1alpha1.LabelControllerRevision, "v2"); n != 0 {
		t.Fatalf("%d routes moved to v2 before any acknowledgement", n)
	}
	if n := labelledWith(ctx, t, w.admin, v1alpha1.LabelDrain, "v2"); n != 20 {
		t.Fatalf("%d of 20 routes marked %s=v2", n, v1alpha1.LabelDrain)
	}

	// The stable version, cooperative: acknowledges as sample-v1.
	rev := pkgcanary.Revision{Name: "v1", Stable: true, Others: []string{"v2"}}
	mgr, err := ctrl.NewManager(sample.Impersonate(w.cfg, userV1), ctrl.Options{
		Scheme:                 w.admin.Scheme(),
		Cache:                  pkgcanary.CacheOptions(cache.Options{DefaultNamespaces: map[string]cache.Config{testNS: {}}}, rev, &sample.Route{}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	ackRecorder := &ackClient{Client: mgr.GetClient(), acked: func(name string) {
		mu.Lock()
		defer mu.Unlock()
		acked[name] = time.Now()
	}}
	next := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) { return reconcile.Result{}, nil })
	if err := ctrl.NewControllerManagedBy(mgr).Named("drain-test").For(&sample.Route{}).
		Complete(pkgcanary.WithDrain(ackRecorder, rev, func() client.Object { return &sample.Route{} }, next)); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	mdone := make(chan error, 1)
	go func() { mdone <- mgr.Start(mctx) }()
	defer func() { stop(); <-mdone }()

	st := <-done
	if st == nil || st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("plan: %+v", st)
	}
	if n := labelledWith(ctx, t, w.admin, v1alpha1.LabelControllerRevision, "v2"); n != 20 {
		t.Fatalf("%d of 20 routes are v2's after promotion", n)
	}
	var list sample.RouteList
	if err := w.admin.List(ctx, &list, client.InNamespace(testNS)); err != nil {
		t.Fatal(err)
	}
	for _, r := range list.Items {
		if _, ok := r.Labels[v1alpha1.LabelDrain]; ok {
			t.Errorf("route %s keeps %s", r.Name, v1alpha1.LabelDrain)
		}
		if _, ok := r.Labels[v1alpha1.LabelDrainAck]; ok {
			t.Errorf("route %s keeps %s", r.Name, v1alpha1.LabelDrainAck)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) != 0 {
		t.Fatalf("routes moved before v1 acknowledged their drain: %v", early)
	}
}

// ackClient records each acknowledgement (a patch by the stable version)
// before sending it.
type ackClient struct {
	client.Client
	acked func(name string)
}

func (c *ackClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.acked(obj.GetName())
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func labelledWith(ctx context.Context, t *testing.T, c client.Client, key, value string) int {
	t.Helper()
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(sample.GroupVersion.WithKind("RouteList"))
	if err := c.List(ctx, &list, client.InNamespace(testNS), client.MatchingLabels{key: value}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}
