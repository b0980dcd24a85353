package controllercanary_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
)

// TestShadowInTheOperator: the operator's reconciler runs a canary with
// spec.shadow: while the shadow runs, a delete by the canary's identity is
// denied and recorded; analysis.maxShadowDeletes 0 fails the shadow step,
// the plan rolls back, the canary never owned a Route, and status.shadow
// and the record's ConfigMap say what it tried.
func TestShadowInTheOperator(t *testing.T) {
	cfg, c, s := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: canary.DefaultShadowNamespace}}); err != nil {
		t.Fatal(err)
	}
	if err := sample.Grant(ctx, c, "sample-v1", "sample-v2"); err != nil {
		t.Fatal(err)
	}
	v2, err := client.New(sample.Impersonate(cfg, "sample-v2"), client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, cfg, s, startServer(t))
	cc := newCanary("shadow-op")
	cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 100}}
	cc.Spec.Shadow = &v1alpha1.CanaryShadow{Duration: &metav1.Duration{Duration: time.Minute}}
	cc.Spec.Analysis.MaxShadowDeletes = ptr.To[int32](0)
	if err := c.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, cc.Name, "shadow annotation", func(cc *v1alpha1.ControllerCanary) bool { return cc.Annotations[v1alpha1.AnnotationShadow] == "true" })
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := v2.Delete(ctx, &sample.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "route-00"}})
		if err == nil {
			t.Fatal("the canary deleted a Route during the shadow")
		}
		if strings.Contains(err.Error(), "shadow run") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delete by v2 not denied by the shadow in 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// End the shadow's wait: the gate judges the record now.
	if err := c.Patch(ctx, &v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: cc.Name}},
		client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AnnotationPromote))); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, cc.Name, "outcome RolledBack", func(cc *v1alpha1.ControllerCanary) bool { return cc.Status.Outcome != "" })
	if got.Status.Outcome != "RolledBack" || !strings.Contains(got.Status.Reason, "analysis.maxShadowDeletes is 0") {
		t.Fatalf("outcome %s (%s), want RolledBack by the shadow gate", got.Status.Outcome, got.Status.Reason)
	}
	if n := labelled(t, c, "v2"); n != 0 {
		t.Fatalf("%d Routes labelled for v2: the canary owned something", n)
	}
	sum := got.Status.Shadow
	if sum == nil || len(sum.Resources) != 1 || sum.Resources[0].Deletes != 1 || sum.Record != canary.DefaultShadowNamespace+"/"+canary.ShadowRecordName(cc.Name) {
		t.Fatalf("status.shadow %+v", sum)
	}
	rec, err := canary.LoadShadowRecord(ctx, c, canary.DefaultShadowNamespace, canary.ShadowRecordName(cc.Name))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Entries) != 1 || rec.Entries[0].Name != "route-00" || rec.Entries[0].Deletes < 1 {
		t.Fatalf("record entries %+v", rec.Entries)
	}
}
