package backend

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/trust"
)

// TestAgainstAPIServer runs the write, validation and verification tests
// against one real kube-apiserver (envtest), each in its own namespace.
func TestAgainstAPIServer(t *testing.T) {
	cfg := testenv.StartAPIServer(t)
	c := newClient(t, cfg)
	t.Run("PublishTrustBundle", func(t *testing.T) { t.Parallel(); testPublishTrustBundle(t, c) })
	t.Run("NoPartialWrite", func(t *testing.T) { t.Parallel(); testNoPartialWrite(t, c, cfg) })
	t.Run("PublishLeaves", func(t *testing.T) { t.Parallel(); testPublishLeaves(t, c) })
	t.Run("Consumers", func(t *testing.T) { t.Parallel(); testConsumers(t, c) })
	t.Run("VerifyByPropagation", func(t *testing.T) { t.Parallel(); testVerifyByPropagation(t, c) })
	t.Run("VerifyByHandshake", func(t *testing.T) { t.Parallel(); testVerifyByHandshake(t, c) })
	t.Run("VerifyByServiceEndpoints", func(t *testing.T) { t.Parallel(); testVerifyByServiceEndpoints(t, c) })
	t.Run("Preview", func(t *testing.T) { t.Parallel(); testPreview(t, c) })
}

func testPublishTrustBundle(t *testing.T, c client.Client) {
	ctx := ctxT(t)
	const ns = "publish"
	mkNamespace(t, c, ns)
	// A ConfigMap target that already holds another key, which must survive;
	// handed over to this CertificateAuthority (ownership mark).
	pre := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bundle", Namespace: ns, Labels: map[string]string{"team": "x"},
		Annotations: ownedBy(ns)}, Data: map[string]string{"other": "keep me"}}
	if err := c.Create(ctx, pre); err != nil {
		t.Fatal(err)
	}
	// A target that is not handed over: refused, nothing written.
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: ns}, Data: map[string][]byte{"ca.crt": []byte("theirs")}}
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	fb := mustNew(t, c, newCAObject(ns, v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{
		{Kind: v1alpha1.TargetSecret, Name: "first-f"}, {Kind: v1alpha1.TargetSecret, Name: "foreign"}}}), Options{})
	if err := fb.PublishTrustBundle(ctx, bundleOf(newCA(t, "f"))); !errors.Is(err, ErrNotOwned) || !strings.Contains(err.Error(), "spec.trustBundles[1]") {
		t.Fatalf("publish into a Secret without the ownership mark: %v, want ErrNotOwned naming spec.trustBundles[1]", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "first-f"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the owned target was written although the other is not handover's (get: %v)", err)
	}
	clk := testclock.NewFakeClock(time.Now())
	b := mustNew(t, c, newCAObject(ns, v1alpha1.CertificateAuthoritySpec{
		TrustBundles: []v1alpha1.TrustBundleTarget{
			{Kind: v1alpha1.TargetConfigMap, Name: "bundle"},
			{Kind: v1alpha1.TargetSecret, Name: "bundle-secret", Key: "trust.pem"},
		},
	}), Options{Clock: clk})
	old, next := newCA(t, "old"), newCA(t, "next")

	if err := b.PublishTrustBundle(ctx, bundleOf(next, old)); err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	var sec corev1.Secret
	get := func() {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bundle"}, &cm); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bundle-secret"}, &sec); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if cm.Data["ca.crt"] != string(bundleOf(next, old)) || cm.Data["other"] != "keep me" || cm.Labels["team"] != "x" {
		t.Fatalf("ConfigMap after publish: data keys %v labels %v; want ca.crt = bundle and other key and label kept", keys(cm.Data), cm.Labels)
	}
	if !bytes.Equal(sec.Data["trust.pem"], bundleOf(next, old)) || sec.Type != corev1.SecretTypeOpaque {
		t.Fatalf("Secret target: type %q, trust.pem equal %v", sec.Type, bytes.Equal(sec.Data["trust.pem"], bundleOf(next, old)))
	}
	for _, obj := range []client.Object{&cm, &sec} {
		a := obj.GetAnnotations()
		if a[AnnotationBundleHash] != bundleHash(bundleOf(next, old)) || a[AnnotationPublishedAt] != clk.Now().UTC().Format(time.RFC3339Nano) {
			t.Errorf("%s annotations %v: want bundle hash and published-at of the publish", obj.GetName(), a)
		}
	}

	// Idempotent: the same bundle again writes nothing.
	rvCM, rvSec := cm.ResourceVersion, sec.ResourceVersion
	clk.Step(time.Minute)
	if err := b.PublishTrustBundle(ctx, bundleOf(next, old)); err != nil {
		t.Fatal(err)
	}
	get()
	if cm.ResourceVersion != rvCM || sec.ResourceVersion != rvSec {
		t.Fatalf("republishing the same bundle wrote: resourceVersion %s→%s, %s→%s", rvCM, cm.ResourceVersion, rvSec, sec.ResourceVersion)
	}

	// A new bundle is written and re-stamped.
	if err := b.PublishTrustBundle(ctx, bundleOf(next)); err != nil {
		t.Fatal(err)
	}
	get()
	if cm.Data["ca.crt"] != string(bundleOf(next)) || cm.Annotations[AnnotationPublishedAt] != clk.Now().UTC().Format(time.RFC3339Nano) {
		t.Fatalf("second bundle not published or not stamped: annotations %v", cm.Annotations)
	}

	// Garbage is refused and changes nothing.
	rvCM = cm.ResourceVersion
	err := b.PublishTrustBundle(ctx, []byte("not a certificate"))
	wantIs(t, err, ErrInvalidPayload)
	get()
	if cm.ResourceVersion != rvCM {
		t.Fatal("a refused bundle changed the ConfigMap")
	}
}

func testNoPartialWrite(t *testing.T, c client.Client, cfg *rest.Config) {
	ctx := ctxT(t)
	const ns = "partial"
	mkNamespace(t, c, ns)
	ca := newCA(t, "ca")
	exists := func(kind, name string) bool {
		t.Helper()
		var obj client.Object = &corev1.Secret{}
		if kind == "ConfigMap" {
			obj = &corev1.ConfigMap{}
		}
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
		if client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
		return err == nil
	}

	t.Run("missing namespace", func(t *testing.T) {
		b := mustNew(t, c, newCAObject(ns, v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{
			{Kind: v1alpha1.TargetSecret, Name: "first"},
			{Kind: v1alpha1.TargetConfigMap, Name: "second", Namespace: "does-not-exist"},
		}}), Options{})
		err := b.PublishTrustBundle(ctx, bundleOf(ca))
		wantIs(t, err, ErrNotFound)
		if !strings.Contains(err.Error(), "spec.trustBundles[1].namespace") {
			t.Errorf("error %q does not name spec.trustBundles[1].namespace", err)
		}
		if exists("Secret", "first") {
			t.Error("the valid first target was written although the second is bad")
		}
	})
	t.Run("dry run refuses an immutable ConfigMap", func(t *testing.T) {
		// The apiserver refuses to change an immutable ConfigMap: the dry
		// run fails before the valid Secret target is written.
		b := mustNew(t, c, newCAObject(ns, v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{
			{Kind: v1alpha1.TargetSecret, Name: "first-i"},
			{Kind: v1alpha1.TargetConfigMap, Name: "frozen"},
		}}), Options{})
		frozen := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "frozen", Namespace: ns, Annotations: ownedBy(ns)}, Immutable: ptr.To(true),
			Data: map[string]string{"ca.crt": "old"}}
		if err := c.Create(ctx, frozen); err != nil {
			t.Fatal(err)
		}
		err := b.PublishTrustBundle(ctx, bundleOf(ca))
		if err == nil || !strings.Contains(err.Error(), "spec.trustBundles[1]: dry-run write") {
			t.Fatalf("error %v does not name spec.trustBundles[1] and the dry run", err)
		}
		if exists("Secret", "first-i") {
			t.Error("the valid first target was written although the second is bad")
		}
	})
	t.Run("namespace the client may not write", func(t *testing.T) {
		testForbidden(t, c, cfg, ns, ca)
	})
	t.Run("target key in binaryData", func(t *testing.T) {
		b := mustNew(t, c, newCAObject(ns, v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{
			{Kind: v1alpha1.TargetSecret, Name: "first-b"},
			{Kind: v1alpha1.TargetConfigMap, Name: "binary"},
		}}), Options{})
		bin := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "binary", Namespace: ns, Annotations: ownedBy(ns)}, BinaryData: map[string][]byte{"ca.crt": {1}}}
		if err := c.Create(ctx, bin); err != nil {
			t.Fatal(err)
		}
		err := b.PublishTrustBundle(ctx, bundleOf(ca))
		if err == nil || !strings.Contains(err.Error(), "spec.trustBundles[1]") {
			t.Fatalf("error %v does not name spec.trustBundles[1]", err)
		}
		if exists("Secret", "first-b") {
			t.Error("the valid first target was written although the second is bad")
		}
	})
	t.Run("leaf Secret of the wrong type", func(t *testing.T) {
		opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "opaque", Namespace: ns, Annotations: ownedBy(ns)}, Data: map[string][]byte{"x": []byte("y")}}
		if err := c.Create(ctx, opaque); err != nil {
			t.Fatal(err)
		}
		b := mustNew(t, c, newCAObject(ns, v1alpha1.CertificateAuthoritySpec{Certificates: []v1alpha1.CertificateSpec{
			{SecretName: "good", DNSNames: []string{"good.test"}},
			{SecretName: "opaque", DNSNames: []string{"bad.test"}},
		}}), Options{Issuer: SpecIssuer(ca, time.Now)})
		err := b.PublishLeaves(ctx, nil)
		wantIs(t, err, ErrInvalidSpec)
		if !strings.Contains(err.Error(), "spec.certificates[1]") {
			t.Errorf("error %q does not name spec.certificates[1]", err)
		}
		if exists("Secret", "good") {
			t.Error("the valid leaf Secret was written although the other is bad")
		}
	})
	t.Run("static checks in New", func(t *testing.T) {
		cases := []struct {
			spec  v1alpha1.CertificateAuthoritySpec
			field string
		}{
			{v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: "Pod", Name: "x"}}}, "spec.trustBundles[0].kind"},
			{v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: "Secret", Name: "Bad_Name"}}}, "spec.trustBundles[0].name"},
			{v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: "Secret", Name: "x", Key: "a/b"}}}, "spec.trustBundles[0].key"},
			{v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: "Secret", Name: "x"}, {Kind: "Secret", Name: "x", Key: "ca.crt"}}}, "spec.trustBundles[1]"},
			{v1alpha1.CertificateAuthoritySpec{
				TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: "Secret", Name: "leaf", Key: "tls.key"}},
				Certificates: []v1alpha1.CertificateSpec{{SecretName: "leaf", CommonName: "leaf"}}}, "spec.certificates[0].secretName"},
			{v1alpha1.CertificateAuthoritySpec{Certificates: []v1alpha1.CertificateSpec{{SecretName: "x", IPAddresses: []string{"nope"}}}}, "spec.certificates[0].ipAddresses[0]"},
			// A server leaf (the default usages) with a commonName only: no SAN to verify.
			{v1alpha1.CertificateAuthoritySpec{Certificates: []v1alpha1.CertificateSpec{{SecretName: "x", CommonName: "x"}}}, "spec.certificates[0].dnsNames"},
			{v1alpha1.CertificateAuthoritySpec{Consumers: []v1alpha1.Consumer{{Name: "a", Kind: "Deployment", Reload: "Hot"}}}, "spec.consumers[0]"},
			{v1alpha1.CertificateAuthoritySpec{Consumers: []v1alpha1.Consumer{{Name: "a", Kind: "Deployment", Reload: "Hot", Selector: &metav1.LabelSelector{}}}}, "spec.consumers[0].selector"},
			{v1alpha1.CertificateAuthoritySpec{Consumers: []v1alpha1.Consumer{{Name: "a", Kind: "Job", Reload: "Hot", WorkloadName: "x"}}}, "spec.consumers[0].kind"},
			{v1alpha1.CertificateAuthoritySpec{Consumers: []v1alpha1.Consumer{{Name: "a", Kind: "Deployment", Reload: "Hot", WorkloadName: "x",
				Probe: &v1alpha1.ConsumerProbe{Address: "no-port"}}}}, "spec.consumers[0].probe.address"},
		}
		for _, tc := range cases {
			_, err := New(c, newCAObject(ns, tc.spec), Options{})
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.field+":") && !strings.Contains(err.Error(), tc.field+" ") {
				t.Errorf("New(%s): %v, want ErrInvalidSpec naming %s", tc.field, err, tc.field)
			}
		}
	})
}

func testPublishLeaves(t *testing.T, c client.Client) {
	ctx := ctxT(t)
	const ns = "leaves"
	mkNamespace(t, c, ns)
	ca := newCA(t, "leaf-ca")
	spec := v1alpha1.CertificateAuthoritySpec{
		TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "bundle"}},
		Certificates: []v1alpha1.CertificateSpec{
			{SecretName: "gateway-tls", DNSNames: []string{"gateway.leaves.svc"}, IPAddresses: []string{"127.0.0.1"}},
			{SecretName: "client-tls", CommonName: "client-a", Usages: []v1alpha1.Usage{v1alpha1.UsageClient}},
		},
	}
	b := mustNew(t, c, newCAObject(ns, spec), Options{Issuer: SpecIssuer(ca, time.Now)})
	if err := b.PublishTrustBundle(ctx, bundleOf(ca)); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishLeaves(ctx, nil); err != nil {
		t.Fatal(err)
	}
	caKeyDER, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for i, name := range []string{"gateway-tls", "client-tls"} {
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		if s.Type != corev1.SecretTypeTLS {
			t.Errorf("%s: type %q, want kubernetes.io/tls", name, s.Type)
		}
		if !bytes.Equal(s.Data["ca.crt"], bundleOf(ca)) {
			t.Errorf("%s: ca.crt is not the published bundle", name)
		}
		pair, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
		if err != nil {
			t.Fatalf("%s: tls.crt/tls.key are not a pair: %v", name, err)
		}
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		if leaf.IsCA || leaf.CheckSignatureFrom(ca.Cert) != nil {
			t.Errorf("%s: leaf is a CA or not signed by the CA", name)
		}
		if len(pair.Certificate) != 2 {
			t.Errorf("%s: tls.crt holds %d certificates, want leaf + chain", name, len(pair.Certificate))
		}
		// The CA's private key must be nowhere in the Secret, in any encoding.
		for k, v := range s.Data {
			if bytes.Contains(v, ca.KeyPEM) || bytes.Contains(v, caKeyDER) || containsKeyDER(v, caKeyDER) {
				t.Fatalf("%s: key %s holds the CA's private key", name, k)
			}
		}
		if i == 0 {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "gateway.leaves.svc"}); err != nil {
				t.Errorf("gateway leaf does not verify for its DNS name: %v", err)
			}
			if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal([]byte{127, 0, 0, 1}) {
				t.Errorf("gateway leaf IPs %v, want [127.0.0.1]", leaf.IPAddresses)
			}
		} else if leaf.Subject.CommonName != "client-a" || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
			t.Errorf("client leaf CN %q EKU %v, want client-a [clientAuth]", leaf.Subject.CommonName, leaf.ExtKeyUsage)
		}
	}

	// An issuer that hands out the CA itself (certificate + key) is refused
	// before any write: a CA key never lands in a leaf Secret.
	var before corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateway-tls"}, &before); err != nil {
		t.Fatal(err)
	}
	leaky := mustNew(t, c, newCAObject(ns, spec), Options{Issuer: func(v1alpha1.CertificateSpec) ([]byte, []byte, error) {
		return ca.CertPEM, ca.KeyPEM, nil
	}})
	err = leaky.PublishLeaves(ctx, nil)
	wantIs(t, err, ErrInvalidPayload)
	if bytes.Contains([]byte(err.Error()), ca.KeyPEM) || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatal("the error carries key material")
	}
	// A leaf with someone else's key (the CA's) does not pair either.
	mismatched := mustNew(t, c, newCAObject(ns, spec), Options{Issuer: func(s v1alpha1.CertificateSpec) ([]byte, []byte, error) {
		chain, _, err := SpecIssuer(ca, time.Now)(s)
		return chain, ca.KeyPEM, err
	}})
	wantIs(t, mismatched.PublishLeaves(ctx, nil), ErrInvalidPayload)
	var after corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateway-tls"}, &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Fatal("a refused leaf changed the Secret")
	}

	// Without Options.Issuer the rotation's IssueFunc is used, named after
	// the entry.
	plain := mustNew(t, c, newCAObject(ns, spec), Options{})
	if err := plain.PublishLeaves(ctx, rotation.Issuer(ca, time.Now)); err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "client-tls"}, &s); err != nil {
		t.Fatal(err)
	}
	certs, err := trust.ParseCertificates(s.Data["tls.crt"])
	if err != nil || certs[0].Subject.CommonName != "client-a" {
		t.Fatalf("leaf from the IssueFunc: %v, CN %v", err, certs)
	}
}

// containsKeyDER also looks for the key inside any PEM block of v.
func containsKeyDER(v, der []byte) bool {
	for rest := v; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return false
		}
		if bytes.Equal(blk.Bytes, der) {
			return true
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// createRolledOut creates Deployment ns/name with n replicas and makes it
// look rolled out (setDeploymentStatus); it returns the stored object.
func createRolledOut(t *testing.T, c client.Client, ns, name string, n int32) *appsv1.Deployment {
	t.Helper()
	d := deployment(ns, name, n)
	if err := c.Create(ctxT(t), d); err != nil {
		t.Fatal(err)
	}
	setDeploymentStatus(t, c, d, n)
	return d
}

// setDeploymentStatus makes a Deployment look rolled out with n replicas
// (envtest runs no controllers).
func setDeploymentStatus(t *testing.T, c client.Client, d *appsv1.Deployment, n int32) {
	t.Helper()
	ctx := ctxT(t)
	if err := c.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	if err := c.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
}

func testConsumers(t *testing.T, c client.Client) {
	ctx := ctxT(t)
	const ns = "consumers"
	mkNamespace(t, c, ns)
	for _, d := range []*appsv1.Deployment{deployment(ns, "gateway", 3), deployment(ns, "ratelimit", 2), deployment(ns, "web-a", 1), deployment(ns, "web-b", 1)} {
		d.Labels["tier"] = "web"
		if d.Name == "gateway" || d.Name == "ratelimit" {
			d.Labels["tier"] = "edge"
		}
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		setDeploymentStatus(t, c, d, *d.Spec.Replicas)
	}
	spec := v1alpha1.CertificateAuthoritySpec{Consumers: []v1alpha1.Consumer{
		{Name: "web", Kind: "Deployment", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}, Reload: v1alpha1.ReloadEvict, Wave: 2},
		{Name: "ratelimit", Kind: "Deployment", WorkloadName: "ratelimit", Reload: v1alpha1.ReloadRolloutRestart, Wave: 1},
		{Name: "gateway", Kind: "Deployment", WorkloadName: "gateway", Reload: v1alpha1.ReloadHot, Wave: 1,
			Probe: &v1alpha1.ConsumerProbe{Address: "gateway.consumers.svc:443", ServerName: "gateway"}},
	}}
	b := mustNew(t, c, newCAObject(ns, spec), Options{})
	got, err := b.Consumers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []rotation.Consumer{
		{Name: "ratelimit", Role: rotation.RoleClient, Reload: rotation.ReloadLoadOnce, Replicas: 2},
		{Name: "gateway", Role: rotation.RoleServer, Reload: rotation.ReloadHot, Addr: "gateway.consumers.svc:443", Replicas: 3},
		{Name: "web", Role: rotation.RoleClient, Reload: rotation.ReloadLoadOnce, Replicas: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("Consumers = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Consumers[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}

	// A paused Deployment would never roll out: refused at once, not waited on.
	paused := deployment(ns, "paused", 1)
	paused.Spec.Paused = true
	if err := c.Create(ctx, paused); err != nil {
		t.Fatal(err)
	}
	pb := mustNew(t, c, newCAObject(ns, v1alpha1.CertificateAuthoritySpec{Consumers: []v1alpha1.Consumer{
		{Name: "paused", Kind: "Deployment", WorkloadName: "paused", Reload: v1alpha1.ReloadRolloutRestart}}}), Options{})
	if err := pb.RollingRestart(ctx, rotation.Consumer{Name: "paused"}); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "is paused") {
		t.Errorf("RollingRestart of a paused Deployment: %v, want ErrInvalidSpec", err)
	}
	if err := pb.RollingRestart(ctx, rotation.Consumer{Name: "nope"}); !errors.Is(err, ErrUnknownConsumer) {
		t.Errorf("RollingRestart of an unknown consumer: %v", err)
	}

	spec.Consumers = append(spec.Consumers, v1alpha1.Consumer{Name: "gone", Kind: "Deployment", WorkloadName: "x", Reload: v1alpha1.ReloadHot})
	b = mustNew(t, c, newCAObject(ns, spec), Options{})
	if _, err := b.Consumers(ctx); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "spec.consumers[3].workloadName") {
		t.Errorf("Consumers with a missing workload: %v, want ErrNotFound naming spec.consumers[3].workloadName", err)
	}
	spec.Consumers[3] = v1alpha1.Consumer{Name: "none", Kind: "StatefulSet", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}, Reload: v1alpha1.ReloadHot}
	b = mustNew(t, c, newCAObject(ns, spec), Options{})
	if _, err := b.Consumers(ctx); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "spec.consumers[3].selector") {
		t.Errorf("Consumers with a selector matching nothing: %v", err)
	}
}

func testVerifyByPropagation(t *testing.T, c client.Client) {
	ctx := ctxT(t)
	const ns = "propagation"
	mkNamespace(t, c, ns)
	createRolledOut(t, c, ns, "app", 2)
	old, next, other := newCA(t, "old"), newCA(t, "next"), newCA(t, "other")
	clk := testclock.NewFakeClock(time.Now())
	spec := v1alpha1.CertificateAuthoritySpec{
		PropagationTimeout: v1alpha1.NewDuration(90 * time.Second),
		TrustBundles:       []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "bundle"}},
		Certificates:       []v1alpha1.CertificateSpec{{SecretName: "app-tls", DNSNames: []string{"app"}}},
		Consumers: []v1alpha1.Consumer{
			{Name: "hot", Kind: "Deployment", WorkloadName: "app", Reload: v1alpha1.ReloadHot},
			{Name: "restart", Kind: "Deployment", WorkloadName: "app", Reload: v1alpha1.ReloadRolloutRestart},
		},
	}
	b := mustNew(t, c, newCAObject(ns, spec), Options{Clock: clk, Issuer: SpecIssuer(old, time.Now)})
	cs, err := b.Consumers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hot, restart := cs[0], cs[1]
	if err := b.PublishTrustBundle(ctx, bundleOf(old)); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishLeaves(ctx, nil); err != nil {
		t.Fatal(err)
	}
	clk.Step(2 * time.Minute)
	if err := b.VerifyAcceptsCA(ctx, hot, probeLeaf(t, old)); err != nil {
		t.Fatalf("after propagation, old CA: %v", err)
	}

	// Add the new CA: the hot consumer needs propagationTimeout.
	if err := b.PublishTrustBundle(ctx, bundleOf(next, old)); err != nil {
		t.Fatal(err)
	}
	err = b.VerifyAcceptsCA(ctx, hot, probeLeaf(t, next))
	wantIs(t, err, ErrPropagating)
	if !strings.Contains(err.Error(), "waiting for propagation (90s left)") {
		t.Errorf("error %q, want the time left", err)
	}
	clk.Step(67 * time.Second)
	if err := b.VerifyAcceptsCA(ctx, hot, probeLeaf(t, next)); err == nil || !strings.Contains(err.Error(), "(23s left)") {
		t.Errorf("after 67s: %v, want 23s left", err)
	}
	// A load-once consumer needs a restart for the publish, not just time.
	clk.Step(30 * time.Second)
	if err := b.VerifyAcceptsCA(ctx, hot, probeLeaf(t, next)); err != nil {
		t.Errorf("hot consumer after propagation: %v", err)
	}
	if err := b.VerifyAcceptsCA(ctx, restart, probeLeaf(t, next)); !errors.Is(err, ErrPropagating) || !strings.Contains(err.Error(), "not restarted since the publish") {
		t.Errorf("load-once consumer without restart: %v, want ErrPropagating", err)
	}
	// A CA the bundle does not hold is rejected once propagated.
	wantIs(t, b.VerifyAcceptsCA(ctx, hot, probeLeaf(t, other)), ErrRejected)

	// Leaves: the published leaves chain to old, not next.
	nextRoots, oldRoots := poolOf(bundleOf(next)), poolOf(bundleOf(old))
	wantIs(t, b.VerifyPresentsLeafFrom(ctx, hot, nextRoots, probeLeaf(t, next)), ErrRejected)
	if err := b.VerifyPresentsLeafFrom(ctx, hot, oldRoots, probeLeaf(t, next)); err != nil {
		t.Errorf("presents an old-CA leaf: %v", err)
	}

	// Drop the old CA: before propagation the consumer may still accept
	// the old CA (not yet rejected), after it the old CA is rejected.
	if err := b.PublishTrustBundle(ctx, bundleOf(next)); err != nil {
		t.Fatal(err)
	}
	if err := b.VerifyAcceptsCA(ctx, hot, probeLeaf(t, old)); !errors.Is(err, ErrPropagating) || errors.Is(err, ErrRejected) {
		t.Errorf("old CA right after the drop: %v, want ErrPropagating only", err)
	}
	clk.Step(91 * time.Second)
	wantIs(t, b.VerifyAcceptsCA(ctx, hot, probeLeaf(t, old)), ErrRejected)

	// Survives a restart: a fresh Backend reads the stamps from the objects.
	clk2 := testclock.NewFakeClock(clk.Now())
	b2 := mustNew(t, c, newCAObject(ns, spec), Options{Clock: clk2})
	if err := b2.VerifyAcceptsCA(ctx, hot, probeLeaf(t, next)); err != nil {
		t.Errorf("fresh backend after propagation: %v", err)
	}
	_, err = b2.lookup(rotation.Consumer{Name: "nope"})
	wantIs(t, err, ErrUnknownConsumer)
}

func testVerifyByHandshake(t *testing.T, c client.Client) {
	ctx := ctxT(t)
	const ns = "handshake"
	mkNamespace(t, c, ns)
	for _, n := range []string{"gw", "mixed", "dead", "wrongname"} {
		createRolledOut(t, c, ns, n, 2)
	}
	old, next := newCA(t, "old"), newCA(t, "next")
	// gw presents an old-CA leaf and trusts only the old CA.
	gw := startTLSServer(t, serverLeaf(t, old, "gw.test"), old)
	// mixed: two pods behind a balancer, one already trusts next, one does not.
	podA := startTLSServer(t, serverLeaf(t, old, "mixed.test"), old, next)
	podB := startTLSServer(t, serverLeaf(t, old, "mixed.test"), old)
	mixedAddr := roundRobin(t, podA.addr(), podB.addr())
	dead := startTLSServer(t, serverLeaf(t, old, "dead.test"), old)
	deadAddr := dead.addr()
	dead.close()

	spec := v1alpha1.CertificateAuthoritySpec{
		TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "bundle"}},
		Consumers: []v1alpha1.Consumer{
			{Name: "gw", Kind: "Deployment", WorkloadName: "gw", Reload: v1alpha1.ReloadHot, Probe: &v1alpha1.ConsumerProbe{Address: gw.addr(), ServerName: "gw.test"}},
			{Name: "mixed", Kind: "Deployment", WorkloadName: "mixed", Reload: v1alpha1.ReloadHot, Probe: &v1alpha1.ConsumerProbe{Address: mixedAddr, ServerName: "mixed.test"}},
			{Name: "dead", Kind: "Deployment", WorkloadName: "dead", Reload: v1alpha1.ReloadHot, Probe: &v1alpha1.ConsumerProbe{Address: deadAddr, ServerName: "dead.test"}},
			{Name: "wrongname", Kind: "Deployment", WorkloadName: "wrongname", Reload: v1alpha1.ReloadHot, Probe: &v1alpha1.ConsumerProbe{Address: gw.addr(), ServerName: "other.test"}},
		},
	}
	b := mustNew(t, c, newCAObject(ns, spec), Options{ProbeTimeout: 2 * time.Second})
	cs, err := b.Consumers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]rotation.Consumer{}
	for _, x := range cs {
		byName[x.Name] = x
	}
	oldProbe, nextProbe := probeLeaf(t, old), probeLeaf(t, next)

	// Nothing published yet: the server's leaf cannot be verified.
	if err := b.VerifyAcceptsCA(ctx, byName["gw"], oldProbe); err == nil || errors.Is(err, ErrRejected) {
		t.Errorf("before any publish: %v, want a plain error", err)
	}
	if err := b.PublishTrustBundle(ctx, bundleOf(next, old)); err != nil {
		t.Fatal(err)
	}
	before := gw.accepted.Load()
	if err := b.VerifyAcceptsCA(ctx, byName["gw"], oldProbe); err != nil {
		t.Fatalf("gw accepts the old CA: %v", err)
	}
	if n := gw.accepted.Load() - before; n < 4 {
		t.Errorf("gw saw %d handshakes, want at least 2×replicas = 4", n)
	}
	err = b.VerifyAcceptsCA(ctx, byName["gw"], nextProbe)
	wantIs(t, err, ErrRejected)
	if !strings.Contains(err.Error(), "gw") {
		t.Errorf("rejection %q does not name the consumer", err)
	}
	if err := b.VerifyPresentsLeafFrom(ctx, byName["gw"], poolOf(bundleOf(old)), oldProbe); err != nil {
		t.Errorf("gw presents an old-CA leaf: %v", err)
	}
	wantIs(t, b.VerifyPresentsLeafFrom(ctx, byName["gw"], poolOf(bundleOf(next)), oldProbe), ErrRejected)

	// Half the pods behind the address accept next: neither nil nor a rejection.
	if err := b.VerifyAcceptsCA(ctx, byName["mixed"], nextProbe); err == nil || errors.Is(err, ErrRejected) {
		t.Errorf("mixed pods: %v, want a plain error", err)
	}
	if err := b.VerifyAcceptsCA(ctx, byName["mixed"], oldProbe); err != nil {
		t.Errorf("mixed pods all accept old: %v", err)
	}
	// Nothing listening, or a server name the leaf does not carry: transient
	// or configuration errors, never a rejection.
	if err := b.VerifyAcceptsCA(ctx, byName["dead"], oldProbe); err == nil || errors.Is(err, ErrRejected) {
		t.Errorf("dead address: %v, want a plain error", err)
	}
	if err := b.VerifyPresentsLeafFrom(ctx, byName["wrongname"], poolOf(bundleOf(old)), oldProbe); err == nil || errors.Is(err, ErrRejected) {
		t.Errorf("hostname mismatch: %v, want a plain error", err)
	}
	if err := b.VerifyPresentsLeafFrom(ctx, byName["gw"], nil, oldProbe); !errors.Is(err, ErrInvalidPayload) {
		t.Errorf("nil roots: %v", err)
	}
}

func testPreview(t *testing.T, c client.Client) {
	ctx := ctxT(t)
	const ns = "preview"
	mkNamespace(t, c, ns)
	d := createRolledOut(t, c, ns, "web", 3)
	for i, name := range []string{"web-2", "web-0", "web-1"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "web"}},
			Spec: d.Spec.Template.Spec}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if i < 2 { // two Ready, one not
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
			if err := c.Status().Update(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: d.Spec.Selector}}
	if err := c.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": {}, "tls.key": {}}}); err != nil {
		t.Fatal(err)
	}
	spec := v1alpha1.CertificateAuthoritySpec{
		PropagationTimeout: v1alpha1.NewDuration(time.Minute),
		GracePeriod:        v1alpha1.NewDuration(10 * time.Minute),
		TrustBundles:       []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "bundle", Namespace: "preview"}},
		Certificates:       []v1alpha1.CertificateSpec{{SecretName: "web-tls", DNSNames: []string{"web"}}},
		Consumers: []v1alpha1.Consumer{
			{Name: "web", Kind: "Deployment", WorkloadName: "web", Reload: v1alpha1.ReloadEvict},
			{Name: "missing", Kind: "Deployment", WorkloadName: "nope", Reload: v1alpha1.ReloadHot},
		},
	}
	b := mustNew(t, c, newCAObject(ns, spec), Options{PodReadyEstimate: 20 * time.Second})
	p, err := b.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Targets) != 1 || p.Targets[0].Exists || p.Targets[0].Keys[0] != "ca.crt" {
		t.Errorf("Targets = %+v, want one ConfigMap to create with key ca.crt", p.Targets)
	}
	if len(p.Certificates) != 1 || !p.Certificates[0].Exists {
		t.Errorf("Certificates = %+v, want the existing web-tls", p.Certificates)
	}
	web := p.Consumers[0]
	if strings.Join(web.Pods, ",") != "web-0,web-1,web-2" || len(web.PDBs) != 1 || web.PDBs[0] != "web" {
		t.Errorf("web preview pods %v pdbs %v", web.Pods, web.PDBs)
	}
	// minAvailable 1 with 2 of 3 pods Ready: one more may go.
	if web.Headroom != 1 {
		t.Errorf("headroom %d (%s), want 1", web.Headroom, web.HeadroomReason)
	}
	if p.Consumers[1].Problem == "" {
		t.Error("a missing workload is not reported")
	}
	if want := 3*time.Minute + 10*time.Minute + 3*3*20*time.Second; p.ExpectedDuration != want {
		t.Errorf("ExpectedDuration %s, want %s", p.ExpectedDuration, want)
	}
	if s := p.String(); !strings.Contains(s, "create ConfigMap preview/bundle keys ca.crt") {
		t.Errorf("String():\n%s", s)
	}
}

// testForbidden impersonates a user that may write Secrets in ns only: a
// target in another namespace fails the dry run (Forbidden) before the
// allowed target is written.
func testForbidden(t *testing.T, admin client.Client, adminCfg *rest.Config, ns string, ca *trust.CA) {
	ctx := ctxT(t)
	const other, user = "partial-other", "limited"
	mkNamespace(t, admin, other)
	objs := []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "limited-read"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "secrets"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews"}, Verbs: []string{"create"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "limited-read"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "limited-read"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "write", Namespace: ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "write", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "write"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}},
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(adminCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	limited := newClient(t, cfg)
	b := mustNew(t, limited, newCAObject(ns, v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{
		{Kind: v1alpha1.TargetSecret, Name: "allowed"},
		{Kind: v1alpha1.TargetSecret, Name: "denied", Namespace: other},
	}}), Options{})
	err := b.PublishTrustBundle(ctx, bundleOf(ca))
	if !errors.Is(err, ErrForbidden) || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "spec.trustBundles[1]: dry-run write") {
		t.Fatalf("error %v, want Forbidden naming spec.trustBundles[1]", err)
	}
	var s corev1.Secret
	if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "allowed"}, &s); !apierrors.IsNotFound(err) {
		t.Fatalf("the allowed target was written although the other is forbidden (get: %v)", err)
	}
}
