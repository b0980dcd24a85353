package ca

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/kube/backend"
)

// TestPlanGolden renders a fixed preview: seed 000's gateway (an Envoy
// gateway with a server secret, hot reload, probed) and seed 001's rate
// limit service (load-once, evicted under a PDB), plus a missing consumer.
func TestPlanGolden(t *testing.T) {
	t.Parallel()
	ca := newCA("gateway", "gateway-ca")
	p := &backend.Preview{
		Targets: []backend.ObjectChange{
			{Field: "spec.trustBundles[0]", Kind: "Secret", Namespace: "gateway", Name: "gateway-ca", Keys: []string{"ca.crt"}, Exists: true},
			{Field: "spec.trustBundles[1]", Kind: "ConfigMap", Namespace: "ratelimit", Name: "trust", Keys: []string{"bundle.pem"}, Exists: false},
		},
		Certificates: []backend.ObjectChange{
			{Field: "spec.certificates[0]", Kind: "Secret", Namespace: "gateway", Name: "gateway-tls", Keys: []string{"tls.crt", "tls.key", "ca.crt"}, Exists: true},
		},
		Consumers: []backend.ConsumerPreview{
			{Name: "gateway", Kind: "Deployment", Namespace: "gateway", Workloads: []string{"envoy-gateway"}, Reload: v1alpha1.ReloadHot,
				Probe: "envoy-gateway.gateway.svc:8443", Headroom: 2, HeadroomReason: "no PodDisruptionBudget"},
			{Name: "ratelimit", Kind: "Deployment", Namespace: "ratelimit", Workloads: []string{"ratelimit"}, Reload: v1alpha1.ReloadEvict, Wave: 1,
				Pods: []string{"ratelimit-7d9f-abcde", "ratelimit-7d9f-fghij", "ratelimit-7d9f-klmno"}, PDBs: []string{"ratelimit"},
				DisruptionsAllowed: 1, Headroom: 1, HeadroomReason: "ratelimit: minAvailable 2 of 3 expected", RestartEstimate: 90 * time.Second},
			{Name: "legacy-client", Kind: "StatefulSet", Namespace: "edge", Reload: v1alpha1.ReloadRolloutRestart, Wave: 2,
				Problem: "spec.consumers[2]: StatefulSet edge/legacy-client not found"},
		},
		Propagation: 90 * time.Second, Grace: time.Hour,
		ExpectedDuration: 3*90*time.Second + time.Hour + 3*90*time.Second,
	}
	var b strings.Builder
	if err := renderPlan(&b, ca, p); err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "plan.golden", b.String())
}

// seedPlanWorkloads creates, in ns, the Deployment "ratelimit" with two
// Ready pods and a PDB (minAvailable 1, disruptionsAllowed 1), and the
// trust bundle Secret "gateway-ca". The Deployment "gateway" is left missing.
func seedPlanWorkloads(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	labels := map[string]string{"app": "ratelimit"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ratelimit"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "rl", Image: "ratelimit:1"}}},
			},
		},
	}
	must(t, c.Create(ctx, dep))
	for _, name := range []string{"ratelimit-b", "ratelimit-a"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "rl", Image: "ratelimit:1"}}},
		}
		must(t, c.Create(ctx, pod))
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		must(t, c.Status().Update(ctx, pod))
	}
	minAvail := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ratelimit-pdb"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
	must(t, c.Create(ctx, pdb))
	pdb.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2, ObservedGeneration: pdb.Generation}
	must(t, c.Status().Update(ctx, pdb))
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateway-ca"}, Data: map[string][]byte{"ca.crt": []byte("x")}}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
