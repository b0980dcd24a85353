package certificateauthority

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/testenv"
)

// TestReadCAFollowsOwnWrites: with a rotation in flight, readCA answers
// from the cache (here a reader standing in for it) exactly when the
// cached object is the one the controller's own last write returned (a
// checkpoint save or a status patch), and reads live after anyone else's
// write or when the context asks for a live read.
func TestReadCAFollowsOwnWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test against a real kube-apiserver")
	}
	_, c := InstallForTest(t, testenv.StartAPIServer(t))
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: "app"},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "bundle"}},
		},
	}
	if err := c.Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	live := &CountingReader{Reader: c}
	r := &Reconciler{Client: c, APIReader: live, Workers: NewWorkers(nil, logr.Discard())}
	key := client.ObjectKeyFromObject(ca)
	read := func(ctx context.Context, what string, wantLive bool) *v1alpha1.CertificateAuthority {
		t.Helper()
		before := live.Gets.Load()
		got := &v1alpha1.CertificateAuthority{}
		isLive, err := r.readCA(ctx, key, got)
		if err != nil {
			t.Fatal(err)
		}
		if isLive != wantLive || (live.Gets.Load()-before == 1) != wantLive {
			t.Fatalf("%s: live %v with %d live read(s), want live %v", what, isLive, live.Gets.Load()-before, wantLive)
		}
		return got
	}

	read(ctx, "no rotation", false)
	rot := &v1alpha1.RotationStatus{Target: "t", Trigger: TriggerManual, Strategy: "staged", StartedAt: metav1.NewTime(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))}
	if err := r.checkpoint(ca, rot).Begin(ctx); err != nil {
		t.Fatal(err)
	}
	got := read(ctx, "after our own checkpoint write", false)
	if got.Status.Rotation == nil || got.Status.Rotation.Target != "t" {
		t.Fatalf("read %+v, want the rotation just begun", got.Status.Rotation)
	}
	read(withLiveRead(ctx), "a live read asked for", true)

	// Someone else writes: live until our next write.
	if err := testenv.Annotate(ctx, c, ca, "example.com/x", "1"); err != nil {
		t.Fatal(err)
	}
	read(ctx, "after another writer", true)
	st := got.Status.DeepCopy()
	st.ConsumersConverged = "changed"
	if err := r.patchStatus(ctx, got, st); err != nil {
		t.Fatal(err)
	}
	got = read(ctx, "after our own status patch", false)
	if got.Status.ConsumersConverged != "changed" || got.Annotations["example.com/x"] != "1" {
		t.Fatalf("read status %q, annotations %v: not the object as patched", got.Status.ConsumersConverged, got.Annotations)
	}
	r.latest.forget(key)
	read(ctx, "after forget", true)
}
