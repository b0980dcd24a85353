package certificateauthority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

// restrictedConfig returns e.cfg impersonating a controller identity that
// may read everywhere but write Secrets and ConfigMaps only in namespace
// writable (the RBAC of the reconciler's markers, narrowed).
func (e *env) restrictedConfig(t *testing.T, writable ...string) *rest.Config {
	t.Helper()
	ctx := context.Background()
	user := "system:serviceaccount:handover:controller"
	objs := []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "handover-read"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"handover.dev"}, Resources: []string{"certificateauthorities"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"handover.dev"}, Resources: []string{"certificateauthorities/status"}, Verbs: []string{"get", "update", "patch"}},
			{APIGroups: []string{"handover.dev"}, Resources: []string{"clustercertificateauthorities"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps", "pods", "namespaces"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"events.k8s.io", ""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"}, Verbs: []string{"list", "watch"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "handover-read"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "handover-read"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}},
	}
	for _, wns := range writable {
		objs = append(objs,
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "handover-write", Namespace: wns}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"get", "create", "update", "patch"}},
			}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "handover-write", Namespace: wns},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "handover-write"},
				Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}})
	}
	for _, o := range objs {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(e.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return cfg
}

func rootSecret(t *testing.T, e *env, certPEM, keyPEM []byte) {
	t.Helper()
	ctx := context.Background()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "root", Namespace: ns}}
	err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "root"}, s)
	s.Data = map[string][]byte{"ca.pem": certPEM, "ca-key.pem": keyPEM}
	switch {
	case apierrors.IsNotFound(err):
		err = e.c.Create(ctx, s)
	case err == nil:
		err = e.c.Update(ctx, s)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func resourceVersions(t *testing.T, e *env, secrets ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range secrets {
		s := &corev1.Secret{}
		if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: n}, s); err != nil {
			t.Fatal(err)
		}
		out[n] = s.ResourceVersion
	}
	return out
}

func TestSecretRefAndBadInput(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.namespace(t, "locked")
	e.deployment(t, ns, "gw", map[string]string{"app": "gw"})
	e.deployment(t, ns, "worker", map[string]string{"app": "worker"})
	// A Secret handover did not write (no ownership mark).
	if err := e.c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: ns},
		Data: map[string][]byte{"ca.crt": []byte("theirs")}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	newCA := func(cn string) *trust.CA {
		c, err := trust.NewCA(trust.CAOptions{CommonName: cn}, now)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b, c := newCA("root-a"), newCA("root-b"), newCA("root-c")
	rootSecret(t, e, a.CertPEM, a.KeyPEM)
	e.startManager(t, e.restrictedConfig(t, ns), false)

	edge := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source: v1alpha1.CASource{SecretRef: &v1alpha1.CASecretRef{Name: "root", CertificateKey: "ca.pem", PrivateKeyKey: "ca-key.pem"}},
			TrustBundles: []v1alpha1.TrustBundleTarget{
				{Kind: v1alpha1.TargetSecret, Name: "edge-bundle"},
				{Kind: v1alpha1.TargetConfigMap, Name: "edge-bundle", Namespace: ns},
			},
			Certificates: []v1alpha1.CertificateSpec{
				{SecretName: "edge-tls", DNSNames: []string{"edge.test"}},
				{SecretName: "worker-tls", DNSNames: []string{"worker.test"}},
			},
			Consumers: []v1alpha1.Consumer{
				{Name: "gw", Kind: "Deployment", WorkloadName: "gw", Reload: v1alpha1.ReloadHot},
				{Name: "worker", Kind: "Deployment", WorkloadName: "worker", Reload: v1alpha1.ReloadHot},
			},
			PropagationTimeout: v1alpha1.NewDuration(time.Second),
			GracePeriod:        v1alpha1.NewDuration(time.Second),
		},
	}
	if err := e.c.Create(context.Background(), edge); err != nil {
		t.Fatal(err)
	}
	ca := e.waitFor(t, ns, "edge", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil
	})
	if ca.Status.Active.Fingerprint != trust.Fingerprint(a.Cert) {
		t.Fatalf("active %s, want root A", ca.Status.Active.Fingerprint)
	}

	// The root changes (cert-manager renewed it): a staged rotation.
	rootSecret(t, e, b.CertPEM, b.KeyPEM)
	ca = e.waitFor(t, ns, "edge", 60*time.Second, "rotation to root B", rotatedFrom(trust.Fingerprint(a.Cert)))
	if ca.Status.Active.Fingerprint != trust.Fingerprint(b.Cert) || ca.Status.Rotation.Trigger != "SourceChanged" || ca.Status.Previous[0].Fingerprint != trust.Fingerprint(a.Cert) {
		t.Fatalf("after root change: active %s trigger %s previous %+v", ca.Status.Active.Fingerprint, ca.Status.Rotation.Trigger, ca.Status.Previous)
	}
	cm := &corev1.ConfigMap{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "edge-bundle"}, cm); err != nil {
		t.Fatal(err)
	}
	if got := fingerprints(t, []byte(cm.Data["ca.crt"])); len(got) != 1 || got[0] != trust.Fingerprint(b.Cert) {
		t.Fatalf("ConfigMap edge-bundle = %v, want [root B]", got)
	}
	ws := &corev1.Secret{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "worker-tls"}, ws); err != nil {
		t.Fatal(err)
	}
	if chain, err := trust.ParseCertificates(ws.Data["tls.crt"]); err != nil || chain[0].CheckSignatureFrom(b.Cert) != nil {
		t.Fatalf("worker-tls leaf not from root B (%v)", err)
	}
	if ca.Status.ConsumersConverged != "2/2 consumers on generation 3" {
		t.Fatalf("consumers %q", ca.Status.ConsumersConverged)
	}
	copyData := secretData(t, e.c, "edge-handover-ca")
	if string(copyData["previous.crt"]) != string(a.CertPEM) {
		t.Fatalf("managed copy does not keep the previous root")
	}

	leafOfB, err := b.IssueLeaf(trust.LeafOptions{CommonName: "leaf", DNSNames: []string{"leaf"}, Usage: trust.UsageServer}, now)
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"edge-bundle", "edge-tls", "worker-tls", "edge-handover-ca", "foreign"}
	cases := []struct {
		name, reason, field string
		apply, restore      func()
	}{
		{"malformed PEM", "InvalidSource", "spec.source.secretRef.certificateKey",
			func() { rootSecret(t, e, []byte("-----BEGIN CERTIFICATE-----\n%%%\n"), b.KeyPEM) },
			func() { rootSecret(t, e, b.CertPEM, b.KeyPEM) }},
		{"non-CA certificate", "InvalidSource", "spec.source.secretRef.certificateKey",
			func() { rootSecret(t, e, leafOfB.CertPEM, leafOfB.KeyPEM) },
			func() { rootSecret(t, e, b.CertPEM, b.KeyPEM) }},
		{"key mismatch", "KeyMismatch", "spec.source.secretRef.privateKeyKey",
			func() { rootSecret(t, e, c.CertPEM, b.KeyPEM) },
			func() { rootSecret(t, e, b.CertPEM, b.KeyPEM) }},
		{"missing source", "SourceNotFound", "spec.source.secretRef.name",
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.Source.SecretRef.Name = "nope" })
			},
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.Source.SecretRef.Name = "root" })
			}},
		{"target in another namespace", "NamespaceForbidden", "spec.trustBundles[2].namespace",
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) {
					ca.Spec.TrustBundles = append(ca.Spec.TrustBundles, v1alpha1.TrustBundleTarget{Kind: v1alpha1.TargetSecret, Name: "x", Namespace: "locked"})
				})
			},
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.TrustBundles = ca.Spec.TrustBundles[:2] })
			}},
		{"target that is not handover's", "NotOwned", "spec.trustBundles[2].name",
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) {
					ca.Spec.TrustBundles = append(ca.Spec.TrustBundles, v1alpha1.TrustBundleTarget{Kind: v1alpha1.TargetSecret, Name: "foreign"})
				})
			},
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.TrustBundles = ca.Spec.TrustBundles[:2] })
			}},
		{"leaf Secret that is not handover's", "NotOwned", "spec.certificates[2].secretName",
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) {
					ca.Spec.Certificates = append(ca.Spec.Certificates, v1alpha1.CertificateSpec{SecretName: "foreign", DNSNames: []string{"x.test"}})
				})
			},
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.Certificates = ca.Spec.Certificates[:2] })
			}},
		{"missing consumer", "ConsumerNotFound", "spec.consumers[2].workloadName",
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) {
					ca.Spec.Consumers = append(ca.Spec.Consumers, v1alpha1.Consumer{Name: "ghost", Kind: "Deployment", WorkloadName: "ghost", Reload: v1alpha1.ReloadHot})
				})
			},
			func() {
				e.update(t, ns, "edge", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.Consumers = ca.Spec.Consumers[:2] })
			}},
	}
	for _, tc := range cases {
		before := resourceVersions(t, e, targets...)
		events := eventReasons(t, e.c)[tc.reason]
		tc.apply()
		ca, d := e.waitDegraded(t, ns, "edge", tc.reason, 30*time.Second)
		if !strings.HasPrefix(d.Message, tc.field+":") {
			t.Errorf("%s: Degraded message %q does not name %s", tc.name, d.Message, tc.field)
		}
		if strings.Contains(d.Message, "PRIVATE KEY") {
			t.Fatalf("%s: condition carries key material", tc.name)
		}
		if isTrue(ca, v1alpha1.ConditionReady) {
			t.Errorf("%s: Ready while Degraded", tc.name)
		}
		deadline := time.Now().Add(10 * time.Second)
		for eventReasons(t, e.c)[tc.reason] <= events && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if eventReasons(t, e.c)[tc.reason] <= events {
			t.Errorf("%s: no Warning event %s", tc.name, tc.reason)
		}
		// Give a wrong controller time to write, then compare.
		time.Sleep(time.Second)
		if after := resourceVersions(t, e, targets...); !equalMaps(before, after) {
			t.Fatalf("%s: targets changed on bad input: %v -> %v", tc.name, before, after)
		}
		tc.restore()
		e.waitFor(t, ns, "edge", 30*time.Second, tc.name+" restored", ready)
		if after := resourceVersions(t, e, targets...); !equalMaps(before, after) {
			t.Fatalf("%s: targets changed after restoring: %v -> %v", tc.name, before, after)
		}
	}

	// Bad input on a new object: nothing is created at all.
	broken := edge.DeepCopy()
	broken.ObjectMeta = metav1.ObjectMeta{Name: "broken", Namespace: ns}
	broken.Spec.Source.SecretRef.Name = "missing-root"
	broken.Spec.TrustBundles[0].Name = "broken-bundle"
	broken.Spec.Certificates[0].SecretName = "broken-tls"
	if err := e.c.Create(context.Background(), broken); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, ns, "broken", 30*time.Second, "Degraded", func(ca *v1alpha1.CertificateAuthority) bool {
		return isTrue(ca, v1alpha1.ConditionDegraded)
	})
	for _, n := range []string{"broken-handover-ca", "broken-bundle", "broken-tls"} {
		err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: n}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("Secret %s exists after bad input (err %v)", n, err)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
