package certificateauthority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/testenv"
)

// TestNamespaceEditorCannotReachOtherNamespaces replays issue 9's confused
// deputy against a real apiserver: a ServiceAccount with `edit` (plus
// create on CertificateAuthorities) in namespace bad only creates a
// CertificateAuthority whose trust bundle, leaf Secret and Evict consumer
// are in victim and kube-system, then asks for a rotation. The controller
// runs with the cluster-wide RBAC of the chart. Nothing outside bad is
// written or evicted; her object gets a Degraded condition
// NamespaceForbidden naming the field, and a Warning event. A second object
// of hers that names another object's Secret as generate.secretName gets
// NotOwned and the Secret is untouched.
func TestNamespaceEditorCannotReachOtherNamespaces(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, n := range []string{"bad", "victim"} {
		e.namespace(t, n)
	}
	e.deployment(t, "victim", "vapp", map[string]string{"app": "vapp"})
	victimObjs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "victim-tls", Namespace: "victim"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("victim cert"), "tls.key": []byte("victim key"), "ca.crt": []byte("victim ca")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "victim-trust", Namespace: "victim"}, Data: map[string][]byte{"ca.crt": []byte("victim ca")}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "vapp-1", Namespace: "victim", Labels: map[string]string{"app": "vapp"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/none"}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "her-neighbours-root", Namespace: "bad"}, Data: map[string][]byte{"tls.crt": []byte("x")}},
	}
	for _, o := range victimObjs {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() map[string]string {
		out := map[string]string{}
		read := func(kind string, obj client.Object, ns, name string) {
			if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
				out[kind+" "+ns+"/"+name] = "error: " + err.Error()
				return
			}
			out[kind+" "+ns+"/"+name] = obj.GetResourceVersion()
		}
		read("Secret", &corev1.Secret{}, "victim", "victim-tls")
		read("Secret", &corev1.Secret{}, "victim", "victim-trust")
		read("Secret", &corev1.Secret{}, "bad", "her-neighbours-root")
		read("ConfigMap", &corev1.ConfigMap{}, "kube-system", "extension-apiserver-authentication")
		read("Pod", &corev1.Pod{}, "victim", "vapp-1")
		return out
	}
	before := snapshot()
	if strings.HasPrefix(before["ConfigMap kube-system/extension-apiserver-authentication"], "error") {
		t.Fatalf("the apiserver did not create kube-system/extension-apiserver-authentication: %v", before)
	}

	mallory := e.namespaceEditor(t, "bad", "mallory")
	e.startManager(t, nil, false)

	attack := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "evil", Namespace: "bad"},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{
				{Kind: v1alpha1.TargetSecret, Name: "victim-trust", Namespace: "victim"},
				{Kind: v1alpha1.TargetConfigMap, Name: "extension-apiserver-authentication", Namespace: "kube-system", Key: "evil.crt"},
			},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "victim-tls", Namespace: "victim", DNSNames: []string{"vapp.victim.svc"}}},
			Consumers:    []v1alpha1.Consumer{{Name: "vapp", Kind: "Deployment", Namespace: "victim", WorkloadName: "vapp", Reload: v1alpha1.ReloadEvict}},
		},
	}
	if err := mallory.Create(ctx, attack); err != nil {
		t.Fatalf("as the namespace editor: create CertificateAuthority: %v", err)
	}
	_, d := e.waitDegraded(t, "bad", "evil", "NamespaceForbidden", 60*time.Second)
	for _, want := range []string{"spec.trustBundles[0].namespace", `"victim"`, `own namespace "bad"`, "spec.certificates[0].namespace", "spec.consumers[0].namespace"} {
		if !strings.Contains(d.Message, want) {
			t.Errorf("Degraded message %q lacks %s", d.Message, want)
		}
	}
	// She asks for a rotation too (ca rotate sets this annotation).
	e.annotateAs(t, mallory, "bad", "evil", v1alpha1.AnnotationRotate, "now")
	e.waitFor(t, "bad", "evil", 30*time.Second, "still Degraded after rotate", func(ca *v1alpha1.CertificateAuthority) bool {
		return isTrue(ca, v1alpha1.ConditionDegraded) && condition(ca, v1alpha1.ConditionDegraded).ObservedGeneration == ca.Generation
	})
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		l := &eventsv1.EventList{}
		if err := e.c.List(ctx, l, client.InNamespace("bad")); err != nil {
			return false, err
		}
		for _, ev := range l.Items {
			if ev.Regarding.Name == "evil" && ev.Reason == "NamespaceForbidden" && ev.Type == corev1.EventTypeWarning {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Errorf("no Warning event NamespaceForbidden on bad/evil: %v", err)
	}

	// Another object of hers takes over a Secret it does not own.
	grab := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "grab", Namespace: "bad"},
		Spec:       v1alpha1.CertificateAuthoritySpec{Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{SecretName: "her-neighbours-root"}}},
	}
	if err := mallory.Create(ctx, grab); err != nil {
		t.Fatal(err)
	}
	if _, d := e.waitDegraded(t, "bad", "grab", "NotOwned", 60*time.Second); !strings.HasPrefix(d.Message, "spec.source.generate.secretName:") || !strings.Contains(d.Message, "bad/her-neighbours-root") {
		t.Errorf("NotOwned message %q does not name the field and the Secret", d.Message)
	}

	// A wrong controller would have acted by now (Resync is 2s); compare.
	time.Sleep(3 * time.Second)
	after := snapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: resourceVersion %s -> %s", k, v, after[k])
		}
	}
	var s corev1.Secret
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "bad", Name: "evil-handover-ca"}, &s); !apierrors.IsNotFound(err) {
		t.Errorf("the refused object got a managed copy (get: %v)", err)
	}
}

// namespaceEditor creates ServiceAccount ns/name bound to the built-in
// ClusterRole edit in ns plus create/update of CertificateAuthorities
// there (what deploy/manifests' handover-edit aggregates into edit), and
// returns a client that impersonates it.
func (e *env) namespaceEditor(t *testing.T, ns, name string) client.Client {
	t.Helper()
	ctx := context.Background()
	user := "system:serviceaccount:" + ns + ":" + name
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-edit", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name + "-cas", Namespace: ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"handover.dev"}, Resources: []string{"certificateauthorities"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-cas", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name + "-cas"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}},
	}
	for _, o := range objs {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(e.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	c, err := client.New(cfg, client.Options{Scheme: e.scheme})
	if err != nil {
		t.Fatal(err)
	}
	// The premise of the attack: she may not write in victim herself.
	err = c.Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "victim-trust", Namespace: "victim"}})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("as %s: update victim/victim-trust returned %v, want Forbidden", user, err)
	}
	return c
}

// annotateAs sets an annotation on CertificateAuthority ns/name through c
// (testenv.Annotate: a merge patch, so no conflict with the controller).
func (e *env) annotateAs(t *testing.T, c client.Client, ns, name, key, value string) {
	t.Helper()
	ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := testenv.Annotate(context.Background(), c, ca, key, value); err != nil {
		t.Fatal(err)
	}
}
