package canary_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/testenv"
)

// kubeconfigBytes is an admin kubeconfig for cfg (a member's Secret).
func kubeconfigBytes(t *testing.T, cfg *rest.Config) []byte {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["member"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["member"] = &clientcmdapi.Context{Cluster: "member", AuthInfo: "admin"}
	kc.CurrentContext = "member"
	b, err := clientcmd.Write(*kc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFederatedBudget runs a canary plan on two real kube-apiservers: the
// home cluster (the ControllerCanary, its Routes) and a member cluster named
// by a kubeconfig Secret. The enforce step installs the webhook into the
// member; there the canary may not touch the stable version's objects, its
// deletes of its own objects count against the one deletion budget, and
// the delete past it is refused, trips the breaker and rolls the plan back.
func TestFederatedBudget(t *testing.T) {
	w := startWorld(t)
	mcfg := testenv.StartAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	scheme := w.admin.Scheme()
	madmin, err := client.New(mcfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	mv2, err := client.New(sample.Impersonate(mcfg, userV2), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := sample.Grant(ctx, madmin, userV1, userV2); err != nil {
		t.Fatal(err)
	}
	if err := madmin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}); err != nil {
		t.Fatal(err)
	}
	// In the member: 5 objects the canary owns, 1 the stable version owns.
	for i := range 5 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: fmt.Sprintf("edge-v2-%d", i), Labels: map[string]string{v1alpha1.LabelControllerRevision: "v2"}}}
		if err := madmin.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	if err := madmin.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "edge-stable"}}); err != nil {
		t.Fatal(err)
	}

	// In the home cluster: the member's kubeconfig Secret, a Route, the canary.
	if err := w.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: canary.DefaultShadowNamespace}}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: canary.DefaultShadowNamespace, Name: "edge-1-kubeconfig"},
		Data: map[string][]byte{canary.DefaultKubeconfigKey: kubeconfigBytes(t, mcfg)}}
	if err := w.admin.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	edge1 := []v1alpha1.MemberCluster{{Name: "edge-1", KubeconfigSecret: v1alpha1.SecretKeyRef{Name: "edge-1-kubeconfig"}}}
	if _, err := canary.MemberClients(ctx, w.admin, canary.DefaultShadowNamespace, &v1alpha1.ControllerCanary{Spec: v1alpha1.ControllerCanarySpec{Members: edge1}}, w.admin.Scheme()); err == nil ||
		!strings.Contains(err.Error(), "member edge-1: secret handover-system/edge-1-kubeconfig is not labelled handover.dev/member-kubeconfig=true") {
		t.Fatalf("an unmarked Secret: %v", err)
	}
	secret.Labels = map[string]string{canary.LabelMemberKubeconfig: "true"}
	if err := w.admin.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := w.admin.Create(ctx, route("r1", "")); err != nil {
		t.Fatal(err)
	}
	cc := canaryAtDefaults("fed")
	cc.Spec.Steps = []v1alpha1.CanaryStep{{Weight: 100, Pause: &metav1.Duration{Duration: time.Hour}}}
	cc.Spec.DeletionBudget = v1alpha1.DeletionBudget{MaxDeletes: ptr.To[int32](2), Window: &metav1.Duration{Duration: time.Hour}}
	cc.Spec.Members = edge1
	if err := w.admin.Create(ctx, cc); err != nil {
		t.Fatal(err)
	}
	if err := w.admin.Get(ctx, client.ObjectKey{Name: cc.Name}, cc); err != nil {
		t.Fatal(err)
	}
	if _, err := canary.MemberClients(ctx, w.admin, canary.DefaultShadowNamespace, &v1alpha1.ControllerCanary{Spec: v1alpha1.ControllerCanarySpec{
		Members: []v1alpha1.MemberCluster{{Name: "edge-2", KubeconfigSecret: v1alpha1.SecretKeyRef{Name: "edge-1-kubeconfig", Key: "nope"}}}}}, scheme); err == nil ||
		!strings.Contains(err.Error(), `member edge-2: secret handover-system/edge-1-kubeconfig has no key "nope"`) {
		t.Fatalf("a missing key: %v", err)
	}
	kinds, errs := canary.CheckResources(cc, w.admin.RESTMapper())
	if len(errs) > 0 {
		t.Fatal(errs)
	}

	srv, err := canary.StartServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	ledger := canary.NewLedger(canary.BudgetOf(cc), nil, nil)
	home := func(ctx context.Context) (*v1alpha1.ControllerCanary, error) {
		var got v1alpha1.ControllerCanary
		return &got, w.admin.Get(ctx, client.ObjectKey{Name: cc.Name}, &got)
	}
	wh := &canary.Webhook{Canary: home, Reader: w.admin, Ledger: ledger, Kinds: map[schema.GroupKind]schema.GroupVersionKind{kinds[0].GroupKind(): kinds[0]}, Children: kinds[1:]}
	cfg := canary.Config{
		Client: w.admin, CanaryClient: w.v2, Canary: cc, Kinds: kinds, Namespace: testNS,
		WebhookURL: srv.URL(), CABundle: srv.CABundle(), Ledger: ledger, Current: home,
	}
	if err := canary.Extend(ctx, w.admin, canary.DefaultShadowNamespace, scheme, nil, cc, wh, &cfg, srv.Handle); err != nil {
		t.Fatal(err)
	}
	srv.Handle(canary.WebhookPath(cc.Name), wh)
	if len(cfg.Members) != 1 || cfg.Members[0].Name != "edge-1" || cfg.Shadow != nil {
		t.Fatalf("Extend: members %v, shadow %v; want edge-1 and no shadow (spec.shadow unset)", cfg.Members, cfg.Shadow)
	}
	members := cfg.Members
	p, err := canary.NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		st  *plan.State
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := (&plan.Runner{}).Run(ctx, p)
		done <- result{st, err}
	}()

	// The member's webhook bites: the canary may not delete the stable
	// version's object there.
	eventually(t, "the member's enforcement denies v2 on a stable object", func() error {
		err := mv2.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "edge-stable"}}, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "belongs to revision v1") {
			return fmt.Errorf("dry-run delete by v2: %w", err)
		}
		return nil
	})
	wantDenied(t, mv2.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "edge-stable"}}), "belongs to revision v1")
	wantDenied(t, mv2.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "edge-stable"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"handover.dev/controller-revision":"v2"}}}`))), "may not change the label handover.dev/controller-revision")
	wantDenied(t, mv2.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "edge-stable"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"data":{"x":"y"}}`))), "belongs to revision v1")
	// Its own objects: 2 deletes fit the budget, the third trips the breaker.
	for i := range 2 {
		if err := mv2.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: fmt.Sprintf("edge-v2-%d", i)}}); err != nil {
			t.Fatalf("delete %d of the canary's own member objects (within budget): %v", i, err)
		}
	}
	if n := ledger.Count("v2"); n != 2 {
		t.Fatalf("ledger counts %d deletes of v2, want the member's 2", n)
	}
	wantDenied(t, mv2.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "edge-v2-2"}}), "exceeds deletionBudget.maxDeletes 2")
	if _, open := ledger.Tripped("v2"); !open {
		t.Fatal("breaker closed after the member's over-budget delete")
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.st.Outcome != plan.OutcomeRolledBack || !strings.Contains(res.st.Reason, canary.ErrBreakerTripped.Error()) {
		t.Fatalf("plan %s (%s), want RolledBack on the breaker", res.st.Outcome, res.st.Reason)
	}
	var left corev1.ConfigMapList
	if err := madmin.List(ctx, &left, client.InNamespace(testNS)); err != nil {
		t.Fatal(err)
	}
	if n := len(left.Items); n < 4 { // edge-v2-2..4 and edge-stable (+ kube-root-ca.crt when a controller runs)
		t.Fatalf("%d ConfigMaps left in the member, want ≥ 4", n)
	}
	if err := canary.UninstallMember(ctx, members[0], cc.Name); err != nil {
		t.Fatal(err)
	}
}
