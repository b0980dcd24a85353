package certificateauthority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/testenv"
)

// TestClusterCertificateAuthorityAcrossNamespaces: a ClusterCertificateAuthority
// (root and run-as object in trust-system) publishes a trust bundle into
// app-a and app-b and a leaf into app-a, reports status on the cluster
// object, and rotates on its rotate annotation. A namespace editor may not
// create one, and a CertificateAuthority she creates with a forged owner
// reference to it is still confined to her namespace.
func TestClusterCertificateAuthorityAcrossNamespaces(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, n := range []string{"trust-system", "app-a", "app-b", "bad"} {
		e.namespace(t, n)
	}
	e.deployment(t, "app-a", "a", map[string]string{"app": "a"})
	e.deployment(t, "app-b", "b", map[string]string{"app": "b"})
	e.startManager(t, nil, false)

	cca := &v1alpha1.ClusterCertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh"},
		Spec: v1alpha1.ClusterCertificateAuthoritySpec{
			Namespace: "trust-system",
			CertificateAuthoritySpec: v1alpha1.CertificateAuthoritySpec{
				Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
				TrustBundles: []v1alpha1.TrustBundleTarget{
					{Kind: v1alpha1.TargetSecret, Name: "mesh-trust", Namespace: "app-a"},
					{Kind: v1alpha1.TargetConfigMap, Name: "mesh-trust", Namespace: "app-b"},
				},
				Certificates: []v1alpha1.CertificateSpec{{SecretName: "a-tls", Namespace: "app-a", DNSNames: []string{"a.app-a.svc"}}},
				Consumers: []v1alpha1.Consumer{
					{Name: "a", Kind: "Deployment", Namespace: "app-a", WorkloadName: "a", Reload: v1alpha1.ReloadHot},
					{Name: "b", Kind: "Deployment", Namespace: "app-b", WorkloadName: "b", Reload: v1alpha1.ReloadHot},
				},
				PropagationTimeout: v1alpha1.NewDuration(time.Second),
				GracePeriod:        v1alpha1.NewDuration(0),
			},
		},
	}
	if err := e.c.Create(ctx, cca); err != nil {
		t.Fatal(err)
	}
	got := e.waitForCluster(t, "mesh", 60*time.Second, "first publish mirrored", func(c *v1alpha1.ClusterCertificateAuthority) bool {
		return c.Status.Active != nil && conditionIs(c.Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	first := got.Status.Active.Fingerprint
	runAs := e.get(t, "trust-system", "mesh")
	if !metav1.IsControlledBy(runAs, got) {
		t.Fatalf("trust-system/mesh is not controlled by the ClusterCertificateAuthority: %+v", runAs.OwnerReferences)
	}
	owner := v1alpha1.OwnerOf("trust-system", "mesh")
	s := &corev1.Secret{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "app-a", Name: "mesh-trust"}, s); err != nil || s.Annotations[v1alpha1.AnnotationOwner] != owner {
		t.Fatalf("app-a/mesh-trust: %v, owner %q", err, s.Annotations[v1alpha1.AnnotationOwner])
	}
	cm := &corev1.ConfigMap{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "app-b", Name: "mesh-trust"}, cm); err != nil || cm.Data["ca.crt"] == "" {
		t.Fatalf("app-b/mesh-trust: %v", err)
	}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "app-a", Name: "a-tls"}, s); err != nil || len(s.Data["tls.crt"]) == 0 {
		t.Fatalf("app-a/a-tls: %v", err)
	}

	// `ca rotate` on the cluster object: the annotation reaches the run-as
	// object, the rotation succeeds, the status is mirrored.
	if err := testenv.Annotate(ctx, e.c, &v1alpha1.ClusterCertificateAuthority{ObjectMeta: metav1.ObjectMeta{Name: "mesh"}}, v1alpha1.AnnotationRotate, "1"); err != nil {
		t.Fatal(err)
	}
	e.waitForCluster(t, "mesh", 90*time.Second, "rotation mirrored", func(c *v1alpha1.ClusterCertificateAuthority) bool {
		r := c.Status.Rotation
		return r != nil && r.Outcome == "Succeeded" && c.Status.Active != nil && c.Status.Active.Fingerprint != first
	})

	// A namespace editor may not create the cluster kind.
	mallory := e.namespaceEditor(t, "bad", "mallory")
	evil := &v1alpha1.ClusterCertificateAuthority{ObjectMeta: metav1.ObjectMeta{Name: "evil"}, Spec: cca.Spec}
	if err := mallory.Create(ctx, evil); !apierrors.IsForbidden(err) {
		t.Fatalf("namespace editor creating a ClusterCertificateAuthority: %v, want Forbidden", err)
	}
	// Nor borrow it: a CertificateAuthority in her namespace, named like it,
	// claiming it as controller, with its spec.
	forged := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: "bad", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: "ClusterCertificateAuthority", Name: "mesh", UID: got.UID, Controller: ptr.To(true),
		}}},
		Spec: cca.Spec.CertificateAuthoritySpec,
	}
	if err := mallory.Create(ctx, forged); err != nil {
		t.Fatal(err)
	}
	if _, d := e.waitDegraded(t, "bad", "mesh", "NamespaceForbidden", 30*time.Second); !strings.Contains(d.Message, `own namespace "bad"`) {
		t.Errorf("forged object's condition %q", d.Message)
	}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: "bad", Name: "mesh-handover-ca"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the forged object got a managed copy (get: %v)", err)
	}
}

// waitForCluster polls the ClusterCertificateAuthority name until cond holds.
func (e *env) waitForCluster(t *testing.T, name string, timeout time.Duration, what string, cond func(*v1alpha1.ClusterCertificateAuthority) bool) *v1alpha1.ClusterCertificateAuthority {
	t.Helper()
	deadline := time.Now().Add(timeout)
	c := &v1alpha1.ClusterCertificateAuthority{}
	for time.Now().Before(deadline) {
		if err := e.c.Get(context.Background(), types.NamespacedName{Name: name}, c); err != nil {
			t.Fatal(err)
		}
		if cond(c) {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("ClusterCertificateAuthority %s: %s not reached within %s; status %+v", name, what, timeout, c.Status)
	return nil
}

func conditionIs(cs []metav1.Condition, typ string, status metav1.ConditionStatus) bool {
	for _, c := range cs {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}
