package canary

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	canarypkg "github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/canarytest"
	"github.com/handover-dev/handover/internal/canary/sample"
)

// TestDiffOnRealAPIServer: `handover canary diff` run by a user who may
// only read ControllerCanaries and the record's ConfigMap prints the record
// the shadow step stored (text and -o json), names a missing record, and
// refuses a bad --output.
func TestDiffOnRealAPIServer(t *testing.T) {
	cfg, c := canarytest.StartAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := canarypkg.DefaultShadowNamespace
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	// The reader: get on controllercanaries, get on configmaps in ns.
	const viewer = "diff-viewer"
	objs := []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: viewer}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"controllercanaries"}, Verbs: []string{"get"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: viewer}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: viewer},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: viewer}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: viewer}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: viewer}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: viewer},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: viewer}}},
	}
	kc := kubeconfigAs(ctx, t, cfg, c, viewer, objs...)

	cc := &v1alpha1.ControllerCanary{
		ObjectMeta: metav1.ObjectMeta{Name: "routes"},
		Spec: v1alpha1.ControllerCanarySpec{
			Stable:    v1alpha1.ControllerVersion{Revision: "v1", Identity: "sample-v1"},
			Canary:    v1alpha1.ControllerVersion{Revision: "v2", Identity: "sample-v2"},
			Resources: []v1alpha1.CanaryResource{{Group: sample.GroupVersion.Group, Version: "v1", Resource: "routes"}},
			Shadow:    &v1alpha1.CanaryShadow{},
		},
	}
	if err := c.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "plan", "routes", "--kubeconfig", kc)
	if err != nil || !strings.Contains(out, "2. shadow") || !strings.Contains(out, "shadow run for 1m0s at weight 0: every write of revision v2 is denied and recorded") {
		t.Fatalf("plan of a canary with spec.shadow at its defaults: %v\n%s", err, out)
	}
	if _, err := run(t, "diff", "routes", "--kubeconfig", kc); err == nil || !strings.Contains(err.Error(), "ControllerCanary routes") || !strings.Contains(err.Error(), canarypkg.ShadowRecordName("routes")) {
		t.Fatalf("diff before any record: %v, want an error naming the canary and the ConfigMap", err)
	}

	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rec := &canarypkg.ShadowRecord{
		Canary: "routes", Revision: "v2", Started: now, Updated: now.Add(15 * time.Second), Attempts: 12,
		Resources: []v1alpha1.ShadowResourceCount{{Resource: "configmaps", Deletes: 2, Attempts: 10}, {Resource: "routes.sample.handover.dev", Updates: 1, Attempts: 2}},
		Entries: []canarypkg.ShadowEntry{
			{Resource: "configmaps", Namespace: "a", Name: "r1-route", Deletes: 5, UID: "u-1", ResourceVersion: "7"},
			{Resource: "configmaps", Namespace: "a", Name: "r2-route", Deletes: 5, UID: "u-2", ResourceVersion: "8"},
			{Resource: "routes.sample.handover.dev", Namespace: "a", Name: "r1", Updates: 2, Patch: json.RawMessage(`[{"op":"replace","path":"/spec/host","value":"x"}]`), ChangeBytes: 51},
		},
	}
	if err := canarypkg.SaveShadowRecord(ctx, c, ns, rec); err != nil {
		t.Fatal(err)
	}
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: canarypkg.ShadowRecordName("other")}, Data: map[string]string{"keep": "me"}}
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if err := canarypkg.SaveShadowRecord(ctx, c, ns, &canarypkg.ShadowRecord{Canary: "other"}); err == nil || !strings.Contains(err.Error(), "not managed by handover") {
		t.Fatalf("saving over a foreign ConfigMap: %v, want a refusal", err)
	}
	sum := rec.Summary(10)
	sum.Record = ns + "/" + canarypkg.ShadowRecordName("routes")
	if err := canarypkg.SetShadowStatus(ctx, c, "routes", sum); err != nil {
		t.Fatal(err)
	}

	out, err = run(t, "diff", "routes", "--kubeconfig", kc, "--limit", "2")
	if err != nil {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	for _, want := range []string{
		"12 denied writes; would-be creates 0, updates 1, deletes 2",
		"configmaps                  0        0        2        10",
		"DELETE         configmaps a/r1-route (attempts: 5 delete)",
		"uid u-1 resourceVersion 7",
		"… and 1 more objects",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "diff", "routes", "--kubeconfig", kc, "-o", "json")
	if err != nil {
		t.Fatalf("diff -o json: %v\n%s", err, out)
	}
	var got canarypkg.ShadowRecord
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("diff -o json is not a record: %v\n%s", err, out)
	}
	if len(got.Entries) != 3 || !strings.Contains(string(got.Entries[2].Patch), `"path": "/spec/host"`) {
		t.Fatalf("diff -o json entries %+v", got.Entries)
	}
	if _, err := run(t, "diff", "routes", "--kubeconfig", kc, "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("diff -o yaml: %v, want an error naming --output", err)
	}
}

// kubeconfigAs creates objs (the user's RBAC) and returns the path of a
// kubeconfig that impersonates user.
func kubeconfigAs(ctx context.Context, t *testing.T, cfg *rest.Config, c client.Client, user string, objs ...client.Object) string {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	kc := kubeconfig(t, cfg)
	kcfg, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	kcfg.AuthInfos["admin"].Impersonate = user
	if err := clientcmd.WriteToFile(*kcfg, kc); err != nil {
		t.Fatal(err)
	}
	return kc
}
