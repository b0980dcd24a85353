package scenario

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/canarytest"
)

// TestShadowBadOnRealAPIServer runs shadow-bad at a small scale on a real
// kube-apiserver: v2 in the shadow deletes nothing, its would-be deletes of
// (nearly) every child are recorded, the maxShadowDeletes gate rolls the
// plan back, and the record was persisted where `handover canary diff`
// reads it.
func TestShadowBadOnRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("slow tier: a controller in a shadow on a real kube-apiserver")
	}
	cfg, admin := canarytest.StartAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var got *canary.ShadowRecord
	runs, err := Run(ctx, Options{Admin: cfg, Routes: 60, ShadowDuration: 6 * time.Second, Log: testWriter{t}, Runs: []string{RunShadowBad},
		OnShadow: func(_ string, rec *canary.ShadowRecord) { got = rec }})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Name != RunShadowBad {
		t.Fatalf("runs %v, want shadow-bad only", runs)
	}
	if err := Verdict(runs); err != nil {
		t.Fatal(err)
	}
	r := runs[0]
	for _, k := range []string{"shadow_deletes", "shadow_attempts", "canary_requests_per_s", "denied_writes_per_s", "shadow_s"} {
		if r.Metrics[k] <= 0 {
			t.Errorf("metric %s = %v, want > 0", k, r.Metrics[k])
		}
	}
	if got == nil {
		t.Fatal("OnShadow was not called")
	}
	stored, err := canary.LoadShadowRecord(ctx, admin, RunShadowBad, canary.ShadowRecordName(RunShadowBad))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, d := stored.Totals(); float64(d) != r.Metrics["shadow_deletes"] {
		t.Fatalf("stored record has %d deletes, the run measured %v", d, r.Metrics["shadow_deletes"])
	}
	var cc v1alpha1.ControllerCanary
	if err := admin.Get(ctx, client.ObjectKey{Name: RunShadowBad}, &cc); err != nil {
		t.Fatal(err)
	}
	sum := cc.Status.Shadow
	if sum == nil || sum.Record != RunShadowBad+"/"+canary.ShadowRecordName(RunShadowBad) || len(sum.Resources) != 1 ||
		sum.Resources[0].Resource != "configmaps" || float64(sum.Resources[0].Deletes) != r.Metrics["shadow_deletes"] || len(sum.Top) == 0 {
		t.Fatalf("status.shadow %+v, want the record's name, the configmaps deletes and top objects", sum)
	}
	if cc.Annotations[v1alpha1.AnnotationShadow] != "" {
		t.Fatalf("annotation %s still set after the plan rolled back", v1alpha1.AnnotationShadow)
	}
}
