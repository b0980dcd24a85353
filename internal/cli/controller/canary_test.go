package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/testenv"
)

const (
	operatorSA = "system:serviceaccount:handover-system:handover-controller"
	requester  = "alice"
)

// TestControllerCanaryLeastPrivilege runs `handover controller` as its
// ServiceAccount with the generated ClusterRole (config/rbac/role.yaml), the
// per-canary grants of docs/canary.md only in namespace team-a, and the
// requester policy of deploy/ installed; alice may only create
// ControllerCanaries. What does the operator do on her behalf?
//   - alice alone cannot create a canary over routes (the policy names what
//     she may not patch and impersonate);
//   - granted patch on routes and configmaps and impersonate of both
//     identities, she creates one over every namespace: the operator, which
//     may touch routes only in team-a, reports Valid=False Forbidden with
//     the field and an event, and changes nothing in team-a or team-b;
//   - her canary limited to team-a runs to promotion at the API's default
//     steps (with the denied-writes gate on, which reads the apiserver's
//     /metrics as the operator): every route in team-a is v2's, none in
//     team-b was touched.
func TestControllerCanaryLeastPrivilege(t *testing.T) {
	cfg, _ := apiServerWithCRD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := sample.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	routeCRD := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(sample.CRD, routeCRD); err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{routeCRD}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config/canary/requester-policy.yaml", "config/rbac/role.yaml"} {
		for _, o := range decodeFile(t, filepath.Join("..", "..", "..", f)) {
			if err := admin.Create(ctx, o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}
	for _, ns := range []string{"handover-system", "team-a", "team-b"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"team-a", "team-b"} {
		for i := range 10 {
			r := &sample.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("r-%d", i)}, Spec: sample.RouteSpec{Host: "h", Backend: "b:1"}}
			if err := admin.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			r.Status.ObservedGeneration = r.Generation // as a reconciled controller leaves it
			if err := admin.Status().Update(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := sample.Grant(ctx, admin, "sample-v1", "sample-v2"); err != nil {
		t.Fatal(err)
	}
	// The operator: the generated ClusterRole, and per canary (docs/canary.md)
	// routes in team-a only and impersonation of the canary identity.
	grant(ctx, t, admin, "", "handover-manager", operatorSA, nil)
	grant(ctx, t, admin, "team-a", "canary-routes", operatorSA, []rbacv1.PolicyRule{
		{APIGroups: []string{sample.GroupVersion.Group}, Resources: []string{"routes"}, Verbs: []string{"get", "list", "patch"}},
	})
	grant(ctx, t, admin, "", "canary-impersonate", operatorSA, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"sample-v2"}},
	})
	grant(ctx, t, admin, "", "canary-requester", requester, []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"controllercanaries"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
	})
	alice := impersonating(t, cfg, s, requester)

	o := &Options{
		Kube: kubeflags.Flags{Kubeconfig: testenv.WriteKubeconfig(t, cfg, operatorSA)}, MetricsAddr: "0", ProbeAddr: "0",
		GracefulShutdown: 10 * time.Second, Controller: ControllerOptions{MaxConcurrentReconciles: 1, PollInterval: time.Second},
		Canary: CanaryOptions{WebhookAddr: "127.0.0.1:0"}, skipNameValidation: true,
	}
	o.Zap.DestWriter = io.Discard
	startRun(ctx, t, o)

	all := &v1alpha1.ControllerCanary{
		ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec: v1alpha1.ControllerCanarySpec{
			Stable:              v1alpha1.ControllerVersion{Revision: "v1", Identity: "sample-v1"},
			Canary:              v1alpha1.ControllerVersion{Revision: "v2", Identity: "sample-v2"},
			Resources:           []v1alpha1.CanaryResource{{Group: sample.GroupVersion.Group, Version: "v1", Resource: "routes"}},
			ControlledResources: []v1alpha1.CanaryResource{{Version: "v1", Resource: "configmaps"}},
		},
	}
	err = alice.Create(ctx, all.DeepCopy())
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "alice may not patch all of routes.sample.handover.dev, configmaps in every namespace") {
		t.Fatalf("alice's first canary: %v, want Forbidden by the requester policy naming routes and configmaps", err)
	}
	grant(ctx, t, admin, "", "alice-routes", requester, []rbacv1.PolicyRule{
		{APIGroups: []string{sample.GroupVersion.Group}, Resources: []string{"routes"}, Verbs: []string{"patch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"patch"}},
	})
	err = alice.Create(ctx, all.DeepCopy())
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "alice may not impersonate both of sample-v1, sample-v2") {
		t.Fatalf("alice's canary without impersonation: %v, want Forbidden naming both identities", err)
	}
	grant(ctx, t, admin, "", "alice-impersonate", requester, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"sample-v1", "sample-v2"}},
	})
	if err := alice.Create(ctx, all.DeepCopy()); err != nil {
		t.Fatalf("alice's canary with the grants: %v", err)
	}
	got := waitCanary(ctx, t, admin, "all", "Valid=False", func(cc *v1alpha1.ControllerCanary) bool {
		return meta.IsStatusConditionFalse(cc.Status.Conditions, v1alpha1.CanaryConditionValid)
	})
	cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.CanaryConditionValid)
	if cond.Reason != "Forbidden" || !strings.Contains(cond.Message, "spec.resources[0]: handover may not get routes.sample.handover.dev in every namespace") {
		t.Fatalf("condition %s: %q, want Forbidden naming spec.resources[0]", cond.Reason, cond.Message)
	}
	waitEvent(ctx, t, admin, "all", "Forbidden")
	assertUntouched(ctx, t, admin, "team-a")
	assertUntouched(ctx, t, admin, "team-b")
	var pols admv1.ValidatingAdmissionPolicyList
	if err := admin.List(ctx, &pols); err != nil {
		t.Fatal(err)
	}
	if len(pols.Items) != 1 { // the requester policy alone
		t.Fatalf("%d admission policies after a forbidden canary, want only the requester policy", len(pols.Items))
	}
	if err := alice.Delete(ctx, all); err != nil {
		t.Fatal(err)
	}

	teamA := all.DeepCopy()
	teamA.Name = "team-a"
	teamA.Spec.Resources[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "team-a"}}
	// The denied-writes gate reads kube-apiserver's /metrics as the
	// operator's ServiceAccount (the generated ClusterRole grants it).
	teamA.Spec.Analysis.MaxDeniedWrites = ptr.To[int32](1000)
	if err := alice.Create(ctx, teamA); err != nil {
		t.Fatal(err)
	}
	got = waitCanary(ctx, t, admin, "team-a", "Succeeded", func(cc *v1alpha1.ControllerCanary) bool { return cc.Status.Outcome != "" })
	if got.Status.Outcome != "Succeeded" {
		t.Fatalf("team-a canary ended %s: %s (steps %+v)", got.Status.Outcome, got.Status.Reason, got.Status.Steps)
	}
	var routes sample.RouteList
	if err := admin.List(ctx, &routes, client.InNamespace("team-a")); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes.Items {
		if r.Labels[v1alpha1.LabelControllerRevision] != "v2" {
			t.Errorf("team-a route %s not handed to v2: labels %v", r.Name, r.Labels)
		}
	}
	assertUntouched(ctx, t, admin, "team-b")
	denied := false
	for _, g := range got.Status.Gates {
		if g.Name == canary.GateDeniedWrites {
			denied = g.Verdict == "Done" && strings.Contains(g.Message, "analysis.maxDeniedWrites 1000")
		}
	}
	if !denied {
		t.Errorf("status.gates = %+v, want DeniedWrites Done from the scraped counter", got.Status.Gates)
	}
	if v2 := count(got.Status.Owned, "v2"); v2 != 10 {
		t.Errorf("status.owned = %+v, want v2 owning the 10 routes of team-a", got.Status.Owned)
	}
	if err := canary.Uninstall(ctx, admin, "team-a"); err != nil {
		t.Fatal(err)
	}
}

func count(vs []v1alpha1.VersionCount, rev string) int64 {
	for _, v := range vs {
		if v.Revision == rev {
			return v.Count
		}
	}
	return -1
}

// assertUntouched fails when a route in ns carries the ownership label.
func assertUntouched(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	var routes sample.RouteList
	if err := c.List(ctx, &routes, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes.Items {
		if v, ok := r.Labels[v1alpha1.LabelControllerRevision]; ok {
			t.Errorf("route %s/%s was relabelled to %q", ns, r.Name, v)
		}
	}
}

// grant binds user to a role: with rules, a new (Cluster)Role named name;
// without, the existing ClusterRole name. ns "" = cluster-wide.
func grant(ctx context.Context, t *testing.T, c client.Client, ns, name, user string, rules []rbacv1.PolicyRule) {
	t.Helper()
	kind := "ClusterRole"
	if ns != "" {
		kind = "Role"
	}
	if rules != nil {
		var role client.Object = &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
		if ns != "" {
			role = &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
		}
		if err := c.Create(ctx, role); err != nil {
			t.Fatal(err)
		}
	}
	subj := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}
	if sa, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		nsName := strings.SplitN(sa, ":", 2)
		subj = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: nsName[0], Name: nsName[1]}}
	}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: name}
	var b client.Object = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + strings.ReplaceAll(user, ":", "-")}, RoleRef: ref, Subjects: subj}
	if ns != "" {
		b = &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, RoleRef: ref, Subjects: subj}
	}
	if err := c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	// The apiserver's RBAC authorizer sees the new objects through an
	// informer: wait until every rule is in effect (a SubjectAccessReview
	// of its first verb, resource and name answers allowed), so that the
	// next request as user — and the admission policies' authorizer
	// checks — see the grant.
	for _, r := range rules {
		attrs := &authorizationv1.ResourceAttributes{Namespace: ns, Verb: r.Verbs[0], Group: r.APIGroups[0], Resource: r.Resources[0]}
		if len(r.ResourceNames) > 0 {
			attrs.Name = r.ResourceNames[0]
		}
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: attrs}}
			if err := c.Create(ctx, sar); err != nil {
				return false, err
			}
			return sar.Status.Allowed, nil
		})
		if err != nil {
			t.Fatalf("grant %s to %s: %s %s not in effect: %v", name, user, attrs.Verb, attrs.Resource, err)
		}
	}
}

func impersonating(t *testing.T, cfg *rest.Config, s *runtime.Scheme, user string) client.Client {
	t.Helper()
	c, err := client.New(sample.Impersonate(cfg, user), client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// decodeFile decodes every document of a YAML file into typed objects
// (ClusterRole, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding).
func decodeFile(t *testing.T, path string) []client.Object {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []client.Object
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var tm metav1.TypeMeta
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		if len(doc) == 0 {
			continue
		}
		b, _ := yaml.Marshal(doc)
		if err := yaml.Unmarshal(b, &tm); err != nil {
			t.Fatal(err)
		}
		var o client.Object
		switch tm.Kind {
		case "ClusterRole":
			o = &rbacv1.ClusterRole{}
		case "ValidatingAdmissionPolicy":
			o = &admv1.ValidatingAdmissionPolicy{}
		case "ValidatingAdmissionPolicyBinding":
			o = &admv1.ValidatingAdmissionPolicyBinding{}
		default:
			t.Fatalf("%s: unexpected kind %s", path, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(b, o); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, o)
	}
}

func waitCanary(ctx context.Context, t *testing.T, c client.Client, name, what string, ok func(*v1alpha1.ControllerCanary) bool) *v1alpha1.ControllerCanary {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	cc := &v1alpha1.ControllerCanary{}
	for time.Now().Before(deadline) {
		if err := c.Get(ctx, client.ObjectKey{Name: name}, cc); err == nil && ok(cc) {
			return cc
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("controllercanary %s: %s not reached in 2m; status %+v", name, what, cc.Status)
	return nil
}

func waitEvent(ctx context.Context, t *testing.T, c client.Client, name, reason string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var evs corev1.EventList
		if err := c.List(ctx, &evs); err == nil {
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == name && e.Reason == reason {
					return
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("controllercanary %s: no %s event", name, reason)
}

// TestLeaderLabelsItsPodForTheWebhook: the canary webhook's Service selects
// the pod labelled handover.dev/canary-webhook=serving. A replica that is
// not the leader removes a stale label from its pod (a former leader's
// restarted container); once it leads it sets the label, and removes it
// when it stops.
func TestLeaderLabelsItsPodForTheWebhook(t *testing.T) {
	cfg, c := apiServerWithCRD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns, podName = "handover-system", "handover-controller-0"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName, Labels: map[string]string{LabelCanaryWebhook: "serving"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "controller", Image: "handover"}}},
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	holder, now := "another-replica", metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "canary-label-test"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: ptr.To[int32](3600), AcquireTime: &now, RenewTime: &now},
	}
	if err := c.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	o := &Options{
		Kube: kubeflags.Flags{Kubeconfig: writeKubeconfig(t, cfg)}, MetricsAddr: "0", ProbeAddr: "0",
		LeaderElect: true, LeaderElectionID: lease.Name, LeaderElectionNamespace: ns,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 500 * time.Millisecond,
		GracefulShutdown: 10 * time.Second, Controller: ControllerOptions{MaxConcurrentReconciles: 1, PollInterval: time.Second},
		Canary:             CanaryOptions{WebhookAddr: "127.0.0.1:0", WebhookService: ns + "/handover-canary-webhook", PodNamespace: ns, PodName: podName},
		skipNameValidation: true,
	}
	o.Zap.DestWriter = io.Discard
	run := startRun(ctx, t, o)
	label := func() (string, bool) {
		p := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), p); err != nil {
			t.Fatal(err)
		}
		v, ok := p.Labels[LabelCanaryWebhook]
		return v, ok
	}
	waitUntil(t, "the replica that is not the leader removes the stale label", func() bool { _, ok := label(); return !ok })
	if err := c.Delete(ctx, lease); err != nil { // the other replica let go
		t.Fatal(err)
	}
	waitUntil(t, "the new leader labels its pod", func() bool { v, _ := label(); return v == "serving" })
	run.stop()
	<-run.done
	if _, ok := label(); ok {
		t.Fatal("the stopped leader left its pod labelled: the Service would send the canary's requests to it")
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not reached in 60s: %s", what)
}
