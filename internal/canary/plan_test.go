package canary_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/plan"
)

// TestPlanErrorRatioRollsBack: a canary whose reconciles fail past
// analysis.maxErrorPercent (read from its metrics endpoint, a real
// client_golang registry over loopback HTTP) fails its weight step, and the
// plan throws the switch and relabels every Route back to stable.
func TestPlanErrorRatioRollsBack(t *testing.T) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 20 {
		if err := w.admin.Create(ctx, route(fmt.Sprintf("r-%02d", i), "")); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	total := prometheus.NewCounter(prometheus.CounterOpts{Name: canary.MetricReconcileTotal})
	errs := prometheus.NewCounter(prometheus.CounterOpts{Name: canary.MetricReconcileErrors})
	reg.MustRegister(total, errs)
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metrics.Close()

	cc := canaryAtDefaults("errors")
	cc.Spec.Canary.MetricsEndpoint = metrics.URL
	cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 50, Pause: &metav1.Duration{Duration: time.Hour}}, {Weight: 100}}
	base := planConfig(ctx, t, w, cc)
	base.HTTPClient = metrics.Client()
	p, err := canary.NewPlan(base)
	if err != nil {
		t.Fatal(err)
	}
	// The canary starts failing once it owns objects: 3 of every 10
	// reconciles fail (30 % > the default 5 %).
	runner := &plan.Runner{Observers: []plan.Observer{plan.ObserverFunc(func(e plan.Event) {
		if e.Kind == plan.EventStepStarted && strings.HasPrefix(e.Step, "step-1") {
			go func() {
				for range 50 {
					total.Add(10)
					errs.Add(3)
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}
	})}}
	st, err := runner.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeRolledBack || !strings.Contains(st.Reason, "exceeds analysis.maxErrorPercent 5") {
		t.Fatalf("outcome %s (%s), want RolledBack on the error ratio", st.Outcome, st.Reason)
	}
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(base.Kinds[0].GroupVersion().WithKind("RouteList"))
	if err := w.admin.List(ctx, &list, client.InNamespace(testNS), client.HasLabels{v1alpha1.LabelControllerRevision}); err != nil {
		t.Fatal(err)
	}
	got := &v1alpha1.ControllerCanary{}
	if err := w.admin.Get(ctx, client.ObjectKey{Name: cc.Name}, got); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 || !got.Spec.Revert {
		t.Fatalf("after rollback: %d routes still labelled, spec.revert %t", len(list.Items), got.Spec.Revert)
	}
}

// planConfig creates cc, serves its webhook on 127.0.0.1 until the test
// ends, and returns the plan's Config as admin with the canary's client,
// limited to testNS, with a fresh ledger.
func planConfig(ctx context.Context, t *testing.T, w *world, cc *v1alpha1.ControllerCanary) canary.Config {
	t.Helper()
	if err := w.admin.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	if err := w.admin.Get(ctx, client.ObjectKey{Name: cc.Name}, cc); err != nil {
		t.Fatal(err)
	}
	kinds, ferrs := canary.CheckResources(cc, w.admin.RESTMapper())
	if len(ferrs) > 0 {
		t.Fatal(ferrs)
	}
	srv, err := canary.StartServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return canary.Config{
		Client: w.admin, CanaryClient: w.v2, Canary: cc, Kinds: kinds, Namespace: testNS,
		WebhookURL: srv.URL(), CABundle: srv.CABundle(), Ledger: canary.NewLedger(canary.BudgetOf(cc), nil, nil),
	}
}
