package certificateauthority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/testenv"
)

// notConverged: the rotation is held in add-new-ca-to-bundles on
// generation 2, and status says the consumer is not on it.
func notConverged(ca *v1alpha1.CertificateAuthority) bool {
	return ca.Status.BundleGeneration == 2 && len(ca.Status.Consumers) == 1 &&
		ca.Status.Consumers[0].BundleGeneration < 2 && ca.Status.ConsumersConverged == "0/1 consumers on generation 2"
}

// TestStuckRotationIsNotConverged: a Hot consumer whose probe address is
// unreachable holds the rotation in its first gate. Status (what `handover
// ca status` prints) must say the consumer is not converged, also after a
// new leader resumed the rotation (it used to mark every consumer verified
// on the current generation when it resumed).
func TestStuckRotationIsNotConverged(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.deployment(t, ns, "gw", map[string]string{"app": "gw"})
	stop := e.startManager(t, nil, true)
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "stuck-bundle"}},
			Consumers: []v1alpha1.Consumer{{Name: "gw", Kind: "Deployment", WorkloadName: "gw", Reload: v1alpha1.ReloadHot,
				Probe: &v1alpha1.ConsumerProbe{Address: testenv.FreeLoopbackAddr(t), ServerName: "gw.test"}}},
			PropagationTimeout: v1alpha1.NewDuration(time.Second),
		},
	}
	if err := e.c.Create(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, ns, "stuck", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.Active != nil && ca.Status.BundleGeneration == 1
	})
	e.annotate(t, ns, "stuck", certificateauthority.AnnotationRotate, "1")
	held := func(ca *v1alpha1.CertificateAuthority) bool {
		r := ca.Status.Rotation
		return inPhase(rotation.StepAddCA)(ca) && len(r.Steps) > 0 && strings.Contains(r.Steps[0].Reason, "connection refused") && notConverged(ca)
	}
	e.waitFor(t, ns, "stuck", 60*time.Second, "rotation held in its first gate, consumer not converged", held)
	stop()

	e.startManager(t, nil, true)
	deadline := time.Now().Add(60 * time.Second)
	for resumedEvents(t, e.c) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the new leader did not resume the rotation")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The new leader's worker runs and its reconciles write status from the
	// resumed progress; several resyncs (2 s here) later it must still say
	// the consumer is not converged while the gate holds the rotation.
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		got := e.get(t, ns, "stuck")
		if r := got.Status.Rotation; r == nil || r.Outcome != "" || r.Phase != rotation.StepAddCA {
			t.Fatalf("the rotation left its held gate: %+v", r)
		}
		if !notConverged(got) {
			t.Fatalf("after the restart status says %q (consumers %+v, generation %d) while the gate still fails: %s",
				got.Status.ConsumersConverged, got.Status.Consumers, got.Status.BundleGeneration, got.Status.Rotation.Steps[0].Reason)
		}
	}
}
