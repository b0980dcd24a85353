package controllercanary_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
)

func gate(cc *v1alpha1.ControllerCanary, name string) *v1alpha1.GateVerdict {
	for i := range cc.Status.Gates {
		if cc.Status.Gates[i].Name == name {
			return &cc.Status.Gates[i]
		}
	}
	return nil
}

func count(vs []v1alpha1.VersionCount, rev string) int64 {
	for _, v := range vs {
		if v.Revision == rev {
			return v.Count
		}
	}
	return -1
}

// TestGatesStatusAndBreaches: while a step holds, status shows every gate's
// verdict, the objects each revision owns and the deletes in the window.
// One write of the canary on a stable object, denied by the policy, breaches
// analysis.maxDeniedWrites 0 and rolls back; a reconciledCondition no
// object ever gets breaches analysis.reconcileTimeout and rolls back.
func TestGatesStatusAndBreaches(t *testing.T) {
	cfg, c, s := setup(t)
	srv := startServer(t)
	ctx := context.Background()
	if err := sample.Grant(ctx, c, "sample-v1", "sample-v2"); err != nil {
		t.Fatal(err)
	}
	v2, err := client.New(sample.Impersonate(cfg, "sample-v2"), client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, cfg, s, srv)

	cc := newCanary("denied")
	cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 50, Pause: &metav1.Duration{Duration: time.Hour}}, {Weight: 100}}
	cc.Spec.Analysis.MaxDeniedWrites = ptr.To[int32](0)
	if err := c.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, "denied", "every gate reported while the pause holds", func(cc *v1alpha1.ControllerCanary) bool {
		return len(cc.Status.Gates) == 4 && len(cc.Status.Owned) == 2 && cc.Status.PauseStartedAt != nil
	})
	for _, g := range []string{canary.GateDeletionBudget, canary.GateDeniedWrites, canary.GateReconciled} {
		if v := gate(got, g); v == nil || v.Verdict != "Done" || v.Message == "" {
			t.Errorf("gate %s = %+v, want Done with a message", g, v)
		}
	}
	if n1, n2 := count(got.Status.Owned, "v1"), count(got.Status.Owned, "v2"); n1+n2 != 40 || n2 != int64(labelled(t, c, "v2")) || n2 == 0 {
		t.Errorf("status.owned = %+v; v2 owns %d routes", got.Status.Owned, labelled(t, c, "v2"))
	}
	if count(got.Status.Deletes, "v1") != 0 || count(got.Status.Deletes, "v2") != 0 {
		t.Errorf("status.deletes = %+v, want 0 for both revisions", got.Status.Deletes)
	}

	// The canary writes a Route the stable version owns: the policy denies.
	var routes sample.RouteList
	if err := c.List(ctx, &routes, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var victim *sample.Route
	for i := range routes.Items {
		if routes.Items[i].Labels[v1alpha1.LabelControllerRevision] == "" {
			victim = &routes.Items[i]
			break
		}
	}
	if victim == nil {
		t.Fatal("no stable route at weight 50")
	}
	err = v2.Patch(ctx, victim, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"backend":"evil:1"}}`)))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("canary's patch of stable route %s: %v, want Forbidden", victim.Name, err)
	}
	got = waitFor(t, c, "denied", "RolledBack", func(cc *v1alpha1.ControllerCanary) bool { return cc.Status.Outcome == "RolledBack" })
	if !strings.Contains(got.Status.RollbackReason, "DeniedWrites: enforcement denied 1 writes of the canary, more than analysis.maxDeniedWrites 0") {
		t.Errorf("rollback reason %q does not name the denied-writes breach", got.Status.RollbackReason)
	}
	if v := gate(got, canary.GateDeniedWrites); v == nil || v.Verdict != "Failed" {
		t.Errorf("gate DeniedWrites = %+v, want Failed", v)
	}
	if n := labelled(t, c, "v2"); n != 0 || count(got.Status.Owned, "v2") != 0 {
		t.Errorf("after the rollback v2 owns %d routes (status.owned %+v)", n, got.Status.Owned)
	}
	if err := canary.Uninstall(ctx, c, "denied"); err != nil {
		t.Fatal(err)
	}

	cc = newCanary("cond")
	cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 50}, {Weight: 100}}
	cc.Spec.Analysis.ReconciledCondition = "Ready"
	cc.Spec.Analysis.ReconcileTimeout = &metav1.Duration{Duration: 2 * time.Second}
	if err := c.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	got = waitFor(t, c, "cond", "RolledBack", func(cc *v1alpha1.ControllerCanary) bool { return cc.Status.Outcome == "RolledBack" })
	if r := got.Status.RollbackReason; !strings.Contains(r, "Reconciled: 0/") || !strings.Contains(r, "no condition Ready") ||
		!strings.Contains(r, "not reconciled within analysis.reconcileTimeout 2s") {
		t.Errorf("rollback reason %q does not name the reconciled breach", r)
	}
	if n := labelled(t, c, "v2"); n != 0 {
		t.Errorf("after the rollback v2 owns %d routes", n)
	}
}

// TestBreakerSurvivesRestart: the breaker opened (status.breaker) while a
// step held; the controller is killed before its plan rolled back. The new
// controller (a new leader, a fresh process) resumes the plan with the
// breaker still open, so the step fails and the plan rolls back.
func TestBreakerSurvivesRestart(t *testing.T) {
	cfg, c, s := setup(t)
	srv := startServer(t)
	ctx := context.Background()
	stop := startManager(t, cfg, s, srv)
	cc := newCanary("restart")
	cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 50, Pause: &metav1.Duration{Duration: time.Hour}}, {Weight: 100}}
	if err := c.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "restart", "the pause of step 1", func(cc *v1alpha1.ControllerCanary) bool { return cc.Status.PauseStartedAt != nil })
	stop()
	// What the former leader's ledger wrote when the canary's delete went
	// over the budget.
	got := &v1alpha1.ControllerCanary{}
	if err := c.Get(ctx, client.ObjectKey{Name: "restart"}, got); err != nil {
		t.Fatal(err)
	}
	got.Status.Breaker = v1alpha1.BreakerStatus{Open: true, Revision: "v2", Reason: "delete 11 in the last 1m0s exceeds deletionBudget.maxDeletes 10", OpenedAt: &metav1.Time{Time: time.Now()}}
	if err := c.Status().Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	startManager(t, cfg, s, srv)
	got = waitFor(t, c, "restart", "RolledBack", func(cc *v1alpha1.ControllerCanary) bool { return cc.Status.Outcome != "" })
	if got.Status.Outcome != "RolledBack" || !strings.Contains(got.Status.RollbackReason, "deletion breaker tripped") {
		t.Fatalf("outcome %s, rollback reason %q: want RolledBack by the carried-over breaker", got.Status.Outcome, got.Status.RollbackReason)
	}
	if n := labelled(t, c, "v2"); n != 0 {
		t.Fatalf("after the rollback v2 owns %d routes", n)
	}
}
