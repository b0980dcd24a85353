package certificateauthority_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/testenv"
)

// newClusterEnv is newEnv on the full kubelet-less cluster: its
// kube-controller-manager runs the garbage collector, which envtest's
// apiserver alone does not.
func newClusterEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against a real cluster")
	}
	return envOn(t, testenv.StartCluster(t, testenv.ClusterOptions{}).RESTConfig)
}

// Deleting a CertificateAuthority deletes its managed copy (the CA keys)
// through the real garbage collector; with spec.retainManagedCopy the copy
// carries no owner reference and stays. Both at the API's defaults
// otherwise (generate, no targets).
func TestDeletingACARemovesItsManagedCopyUnlessRetained(t *testing.T) {
	e := newClusterEnv(t)
	e.namespace(t, ns)
	e.startManager(t, nil, false)
	ctx := context.Background()
	mk := func(name string, retain bool) {
		ca := &v1alpha1.CertificateAuthority{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.CertificateAuthoritySpec{
				Source:            v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
				RetainManagedCopy: retain,
			},
		}
		if err := e.c.Create(ctx, ca); err != nil {
			t.Fatal(err)
		}
	}
	mk("gone", false)
	mk("kept", true)
	for _, name := range []string{"gone", "kept"} {
		e.waitFor(t, ns, name, 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool { return ready(ca) && ca.Status.Active != nil })
	}
	owners := func(name string) []metav1.OwnerReference {
		s := &corev1.Secret{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			t.Fatal(err)
		}
		return s.OwnerReferences
	}
	gone := e.get(t, ns, "gone")
	if o := owners("gone-handover-ca"); len(o) != 1 || o[0].UID != gone.UID || o[0].Kind != "CertificateAuthority" {
		t.Fatalf("managed copy owners = %+v, want the CertificateAuthority", o)
	}
	if o := owners("kept-handover-ca"); len(o) != 0 {
		t.Fatalf("retained managed copy owners = %+v, want none", o)
	}
	for _, name := range []string{"gone", "kept"} {
		if err := e.c.Delete(ctx, &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "gone-handover-ca"}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the garbage collector did not delete the managed copy of a deleted CertificateAuthority: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The collector has processed the deletions; the retained copy (no
	// owner) is still there.
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "kept-handover-ca"}, &corev1.Secret{}); err != nil {
		t.Fatalf("retained managed copy: %v", err)
	}
}

// An existing managed copy without the owner reference (written by an
// earlier version, or while spec.retainManagedCopy was set) gets it at the
// next reconcile; setting retainManagedCopy removes it again.
func TestManagedCopyOwnerFollowsRetain(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.startManager(t, nil, false)
	ctx := context.Background()
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "toggle", Namespace: ns},
		Spec:       v1alpha1.CertificateAuthoritySpec{Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}}, RetainManagedCopy: true},
	}
	if err := e.c.Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, ns, "toggle", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool { return ready(ca) && ca.Status.Active != nil })
	owned := func() bool {
		s := &corev1.Secret{}
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "toggle-handover-ca"}, s); err != nil {
			t.Fatal(err)
		}
		return len(s.OwnerReferences) == 1 && s.OwnerReferences[0].Name == "toggle"
	}
	waitOwned := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); owned() != want; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("managed copy owned = %v, want %v", !want, want)
			}
		}
	}
	waitOwned(false)
	e.update(t, ns, "toggle", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.RetainManagedCopy = false })
	waitOwned(true)
	e.update(t, ns, "toggle", func(ca *v1alpha1.CertificateAuthority) { ca.Spec.RetainManagedCopy = true })
	waitOwned(false)
}
