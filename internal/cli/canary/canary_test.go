package canary

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary/canarytest"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/testenv"
)

func kubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	return testenv.WriteKubeconfig(t, cfg, "")
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestVerbsOnRealAPIServer: plan validates and prints the steps at the API's
// defaults, revert/pause/promote each make their one write, status prints
// them, and a missing object is named.
func TestVerbsOnRealAPIServer(t *testing.T) {
	cfg, c := canarytest.StartAPIServer(t)
	kc := kubeconfig(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cc := &v1alpha1.ControllerCanary{
		ObjectMeta: metav1.ObjectMeta{Name: "routes"},
		Spec: v1alpha1.ControllerCanarySpec{
			Stable:    v1alpha1.ControllerVersion{Revision: "v1", Identity: "sample-v1"},
			Canary:    v1alpha1.ControllerVersion{Revision: "v2", Identity: "sample-v2"},
			Resources: []v1alpha1.CanaryResource{{Group: sample.GroupVersion.Group, Version: "v1", Resource: "routes"}},
		},
	}
	if err := c.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, "plan", "routes", "--kubeconfig", kc)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	for _, want := range []string{"v1 (sample-v1) → v2 (sample-v2); deletion budget 10 per 1m0s", "1. enforce", "2. step-1-weight-5", "5. step-4-weight-100", "6. promote", "← point of no return"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"revert", "routes"}, {"pause", "routes"}, {"promote", "routes"}} {
		if out, err := run(t, append(args, "--kubeconfig", kc)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	got := &v1alpha1.ControllerCanary{}
	if err := c.Get(ctx, client.ObjectKey{Name: "routes"}, got); err != nil {
		t.Fatal(err)
	}
	if !got.Spec.Revert || !got.Spec.Paused || got.Annotations[v1alpha1.AnnotationPromote] != "true" {
		t.Fatalf("after revert/pause/promote: revert %t paused %t annotations %v", got.Spec.Revert, got.Spec.Paused, got.Annotations)
	}
	if out, err := run(t, "pause", "routes", "--resume", "--kubeconfig", kc); err != nil {
		t.Fatalf("pause --resume: %v\n%s", err, out)
	}
	// What the operator writes (status.owned, deletes, gates) is printed.
	if err := c.Get(ctx, client.ObjectKey{Name: "routes"}, got); err != nil {
		t.Fatal(err)
	}
	got.Status.Owned = []v1alpha1.VersionCount{{Revision: "v1", Count: 30}, {Revision: "v2", Count: 10}}
	got.Status.Deletes = []v1alpha1.VersionCount{{Revision: "v1", Count: 0}, {Revision: "v2", Count: 3}}
	got.Status.Gates = []v1alpha1.GateVerdict{{Name: "Reconciled", Verdict: "NotYet", Message: "7/10 objects of revision v2 reconciled", At: metav1.Now()}}
	if err := c.Status().Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "status", "routes", "--kubeconfig", kc)
	if err != nil || !strings.Contains(out, "revert true, paused false") || !strings.Contains(out, "owned  v1 30, v2 10") ||
		!strings.Contains(out, "deletes in window  v1 0, v2 3") || !strings.Contains(out, "gate Reconciled      NotYet  7/10 objects of revision v2 reconciled") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if _, err := run(t, "status", "nope", "--kubeconfig", kc); err == nil || !strings.Contains(err.Error(), "ControllerCanary nope") {
		t.Fatalf("status of a missing object: %v", err)
	}
}
