package canary_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/plan"
)

func TestValidateSkew(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                   string
		apiVersions            []string
		stableLock, canaryLock string
		want                   string // "" = valid
	}{
		{name: "nothing declared"},
		{name: "different locks", stableLock: "ns/a", canaryLock: "ns/b", apiVersions: []string{"v1", "sample.handover.dev/v1"}},
		{name: "shared lock", stableLock: "ns/a", canaryLock: "ns/a", want: "spec.canary.leaderElectionLock: Invalid value: \"ns/a\": must differ from spec.stable.leaderElectionLock"},
		{name: "lock without namespace", stableLock: "a", want: "spec.stable.leaderElectionLock: Invalid value: \"a\": must be namespace/name"},
		{name: "bad group/version", apiVersions: []string{"a/b/c"}, want: "spec.stable.apiVersions[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cc := canaryAtDefaults("x")
			cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 100}}
			cc.Spec.Stable.APIVersions, cc.Spec.Stable.LeaderElectionLock, cc.Spec.Canary.LeaderElectionLock = c.apiVersions, c.stableLock, c.canaryLock
			errs := canary.Validate(cc)
			if c.want == "" {
				if len(errs) > 0 {
					t.Fatalf("Validate = %v, want valid", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), c.want) {
				t.Fatalf("Validate = %v, want one error containing %q", errs, c.want)
			}
		})
	}
}

// TestPreflightSteps: a canary that declares what its stable revision reads
// gets a preflight step first and one right before the promotion; on a real
// kube-apiserver the gate passes while the Route CRD serves v1 and fails,
// naming the reason, once v1 is no longer served.
func TestPreflightSteps(t *testing.T) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cc := canaryAtDefaults("skew")
	cc.Spec.Stable.APIVersions = []string{"sample.handover.dev/v1"}
	cc.Spec.Stable.LeaderElectionLock, cc.Spec.Canary.LeaderElectionLock = "routes/route-v1", "routes/route-v2"
	if err := w.admin.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	if err := w.admin.Get(ctx, client.ObjectKey{Name: cc.Name}, cc); err != nil {
		t.Fatal(err)
	}
	kinds, errs := canary.CheckResources(cc, w.admin.RESTMapper())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p, err := canary.NewPlan(canary.Config{Client: w.admin, Canary: cc, Kinds: kinds, Ledger: canary.NewLedger(canary.BudgetOf(cc), nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Steps {
		names = append(names, s.Name())
	}
	if got := strings.Join(names, ","); got != "preflight,enforce,step-1-weight-5,step-2-weight-25,step-3-weight-50,step-4-weight-100,preflight-promote,promote" {
		t.Fatalf("steps %s", got)
	}
	if p.Steps[p.PointOfNoReturn].Name() != canary.StepPromote {
		t.Fatalf("point of no return at %s, want promote", p.Steps[p.PointOfNoReturn].Name())
	}
	first, last := p.Steps[0], p.Steps[len(p.Steps)-2]
	if r := first.Check(ctx); r.State != plan.CheckDone {
		t.Fatalf("preflight on the cluster as it is: %+v", r)
	}

	// Someone applies a Route CRD that serves v2 only.
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := w.admin.Get(ctx, client.ObjectKey{Name: "routes.sample.handover.dev"}, crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	v1 := versions[0].(map[string]any)
	v2 := map[string]any{"name": "v2", "served": true, "storage": true, "schema": v1["schema"], "subresources": v1["subresources"]}
	v1["served"], v1["storage"] = false, false
	if err := unstructured.SetNestedSlice(crd.Object, []any{v1, v2}, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	if err := w.admin.Update(ctx, crd); err != nil {
		t.Fatal(err)
	}
	r := last.Check(ctx)
	if r.State != plan.CheckFailed || !strings.Contains(r.Reason, "version v1 is read by the stable revision v1") || !strings.Contains(r.Reason, "status.storedVersions") {
		t.Fatalf("preflight-promote after v1 stopped being served: %+v", r)
	}
}
