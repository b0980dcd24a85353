package certificateauthority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/rotation"
)

func slowCA() *v1alpha1.CertificateAuthority {
	return &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "slow", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "slow-bundle"}},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "slow-tls", DNSNames: []string{"slow.test"}}},
			// Without a probe a Hot consumer is verified by waiting the
			// propagation timeout: long enough to stop the manager mid-step.
			Consumers:          []v1alpha1.Consumer{{Name: "app", Kind: "Deployment", WorkloadName: "app", Reload: v1alpha1.ReloadHot}},
			PropagationTimeout: v1alpha1.NewDuration(4 * time.Second),
			GracePeriod:        v1alpha1.NewDuration(time.Second),
		},
	}
}

func inPhase(phase string) func(*v1alpha1.CertificateAuthority) bool {
	return func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.Rotation != nil && ca.Status.Rotation.Outcome == "" && ca.Status.Rotation.Phase == phase
	}
}

func resumedEvents(t *testing.T, c client.Client) int {
	t.Helper()
	l := &eventsv1.EventList{}
	if err := c.List(context.Background(), l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range l.Items {
		if e.Reason == "PlanStarted" && strings.Contains(e.Note, "resumed") {
			n++
		}
	}
	return n
}

// TestResumeAfterRestartAndAbort stops the leader mid-rotation, starts a new
// manager that resumes from status.rotation and finishes; then aborts a
// second rotation with the revert annotation before its point of no return.
func TestResumeAfterRestartAndAbort(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.deployment(t, ns, "app", map[string]string{"app": "app"})
	stop := e.startManager(t, nil, true)
	if err := e.c.Create(context.Background(), slowCA()); err != nil {
		t.Fatal(err)
	}
	ca := e.waitFor(t, ns, "slow", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil
	})
	first := ca.Status.Active.Fingerprint

	e.annotate(t, ns, "slow", certificateauthority.AnnotationRotate, "1")
	mid := e.waitFor(t, ns, "slow", 30*time.Second, "rotation in its first step", inPhase(rotation.StepAddCA))
	stop()
	after := e.get(t, ns, "slow")
	if r := after.Status.Rotation; r.Outcome != "" || r.RollingBack || r.Target != mid.Status.Rotation.Target {
		t.Fatalf("stopping the manager ended or reverted the rotation: %+v", r)
	}
	if resumedEvents(t, e.c) != 0 {
		t.Fatal("a resumed plan before the restart")
	}

	e.startManager(t, nil, true)
	ca = e.waitFor(t, ns, "slow", 90*time.Second, "resumed rotation done", rotatedFrom(first))
	if ca.Status.Rotation.StartedAt != mid.Status.Rotation.StartedAt || ca.Status.Rotation.Target != mid.Status.Rotation.Target {
		t.Fatalf("the new leader started another rotation (%+v) instead of resuming (%+v)", ca.Status.Rotation, mid.Status.Rotation)
	}
	if resumedEvents(t, e.c) == 0 {
		t.Fatal("no PlanStarted (resumed) event from the new leader")
	}
	if ca.Status.BundleGeneration != 3 {
		t.Fatalf("bundle generation %d after a resumed rotation, want 3 (the restart must not count a publish twice)", ca.Status.BundleGeneration)
	}
	second := ca.Status.Active.Fingerprint

	// Revert before the point of no return aborts: the plan rolls back.
	e.annotate(t, ns, "slow", certificateauthority.AnnotationRotate, "2")
	e.waitFor(t, ns, "slow", 30*time.Second, "rotation 2 in its first step", inPhase(rotation.StepAddCA))
	e.annotate(t, ns, "slow", certificateauthority.AnnotationRevert, "1")
	ca = e.waitFor(t, ns, "slow", 60*time.Second, "rolled back", func(ca *v1alpha1.CertificateAuthority) bool {
		r := ca.Status.Rotation
		return ready(ca) && r != nil && r.Outcome == "RolledBack"
	})
	if ca.Status.Rotation.Reason != "aborted" || ca.Status.Active.Fingerprint != second {
		t.Fatalf("after abort: reason %q, active %s, want aborted and %s", ca.Status.Rotation.Reason, ca.Status.Active.Fingerprint, second)
	}
	if isTrue(ca, v1alpha1.ConditionDegraded) {
		t.Fatal("an aborted rotation leaves the object Degraded")
	}
	if got := fingerprints(t, secretData(t, e.c, "slow-bundle")["ca.crt"]); len(got) != 1 || got[0] != second {
		t.Fatalf("bundle after rollback %v, want [%s]", got, second)
	}
	// The revert token is handled: nothing else happens.
	time.Sleep(2 * time.Second)
	if r := e.get(t, ns, "slow").Status.Rotation; r.Outcome != "RolledBack" {
		t.Fatalf("a handled revert started another rotation: %+v", r)
	}
}
