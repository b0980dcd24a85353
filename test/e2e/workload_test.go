package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/internal/testenv"
)

const waitLimit = 90 * time.Second

// The harness is real: a Deployment with a PodDisruptionBudget runs on a kwok
// node, the eviction API enforces the budget, and a rolling restart replaces
// every pod.
func TestDeploymentBudgetEvictionAndRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: starts a full cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{})
	cs, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const ns, name = "e2e-budget", "web"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, testenv.KwokDeployment(ns, name, 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdb := testenv.MinAvailableBudget(ns, name, 2)
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// 1. Three Ready pods on kwok nodes; the budget allows one disruption.
	created := time.Now()
	pods := waitReadyPods(ctx, t, cs, ns, name, 3)
	t.Logf("3 replicas Ready %s after create (measured, not asserted)", time.Since(created).Round(time.Millisecond))
	for _, p := range pods {
		if !contains(c.Nodes, p.Spec.NodeName) {
			t.Fatalf("pod %s runs on %q, not on a kwok node %v", p.Name, p.Spec.NodeName, c.Nodes)
		}
	}
	waitBudget(ctx, t, cs, ns, name, 3, 1)

	// 2. With the node cordoned no replacement can become healthy: evicting
	// one pod is allowed, evicting a second would leave 1 < minAvailable 2.
	setUnschedulable(ctx, t, cs, c.Nodes[0], true)
	waitSchedulerSeesCordon(ctx, t, cs, ns)
	if err := evict(ctx, cs, ns, pods[0].Name); err != nil {
		t.Fatalf("first eviction (budget allows 1): %v", err)
	}
	waitGone(ctx, t, cs, ns, pods[0])
	waitBudget(ctx, t, cs, ns, name, 2, 0)
	err = evict(ctx, cs, ns, pods[1].Name)
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction violating the budget: got %v, want HTTP 429 TooManyRequests", err)
	}
	if !strings.Contains(err.Error(), "disruption budget") {
		t.Errorf("429 for another reason than the budget: %v", err)
	}
	if p, err := cs.CoreV1().Pods(ns).Get(ctx, pods[1].Name, metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("refused eviction still removed pod %s (err %v)", pods[1].Name, err)
	}
	setUnschedulable(ctx, t, cs, c.Nodes[0], false)
	before := waitReadyPods(ctx, t, cs, ns, name, 3)

	// 3. A rolling restart (what `kubectl rollout restart` does) replaces
	// every pod: three Ready pods, none with an old UID.
	old := map[types.UID]bool{}
	for _, p := range before {
		old[p.UID] = true
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
		time.Now().UTC().Format(time.RFC3339))
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("rolling restart: %v", err)
	}
	restarted := time.Now()
	waitRollout(ctx, t, cs, ns, name)
	var after []corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitLimit, true, func(ctx context.Context) (bool, error) {
		all, err := listPods(ctx, cs, ns, name)
		if err != nil {
			return false, err
		}
		after = after[:0]
		for _, p := range all {
			if old[p.UID] {
				return false, nil // an old pod still exists (even terminating)
			}
			if podReady(p) {
				after = append(after, p)
			}
		}
		return len(all) == 3 && len(after) == 3, nil
	})
	if err != nil {
		t.Fatalf("rolling restart did not replace every pod with 3 new Ready pods: %v (ready new pods: %d)", err, len(after))
	}
	t.Logf("rolling restart replaced 3 pods in %s (measured, not asserted)", time.Since(restarted).Round(time.Millisecond))
	for _, p := range after {
		if p.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
			t.Errorf("pod %s lacks the restartedAt template annotation", p.Name)
		}
	}
}

func evict(ctx context.Context, cs kubernetes.Interface, ns, pod string) error {
	return cs.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}})
}

func listPods(ctx context.Context, cs kubernetes.Interface, ns, app string) ([]corev1.Pod, error) {
	l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

func podReady(p corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// waitReadyPods waits until exactly n pods of app exist and all are Ready.
func waitReadyPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, app string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitLimit, true, func(ctx context.Context) (bool, error) {
		all, err := listPods(ctx, cs, ns, app)
		if err != nil {
			return false, err
		}
		pods = pods[:0]
		for _, p := range all {
			if podReady(p) {
				pods = append(pods, p)
			}
		}
		return len(all) == n && len(pods) == n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d Ready pods of %s/%s: %v (ready: %d)", n, ns, app, err, len(pods))
	}
	return pods
}

// waitBudget waits until the budget's status reflects healthy pods and allowed disruptions.
func waitBudget(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, healthy, allowed int32) {
	t.Helper()
	var last policyv1.PodDisruptionBudgetStatus
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitLimit, true, func(ctx context.Context) (bool, error) {
		pdb, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = pdb.Status
		return pdb.Status.ObservedGeneration == pdb.Generation &&
			pdb.Status.CurrentHealthy == healthy && pdb.Status.DisruptionsAllowed == allowed, nil
	})
	if err != nil {
		t.Fatalf("waiting for budget %s/%s healthy=%d allowed=%d: %v (last status: healthy=%d allowed=%d)",
			ns, name, healthy, allowed, err, last.CurrentHealthy, last.DisruptionsAllowed)
	}
}

func waitGone(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, pod corev1.Pod) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitLimit, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && p.UID != pod.UID, err
	})
	if err != nil {
		t.Fatalf("waiting for evicted pod %s to be deleted: %v", pod.Name, err)
	}
}

func waitRollout(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	var last appsv1.DeploymentStatus
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitLimit, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = d.Status
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.Replicas == 3 && s.UpdatedReplicas == 3 &&
			s.ReadyReplicas == 3 && s.AvailableReplicas == 3, nil
	})
	if err != nil {
		t.Fatalf("waiting for rollout of %s/%s: %v (last status %+v)", ns, name, err, last)
	}
}

// waitSchedulerSeesCordon returns once kube-scheduler has found no node for
// a probe pod: its cache then holds the cordon, and (events being handled in
// order) any replacement pod created later stays Pending too.
func waitSchedulerSeesCordon(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cordon-probe", Namespace: ns, Labels: map[string]string{"app": "cordon-probe"}},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"type": "kwok"},
			Containers:   []corev1.Container{{Name: "probe", Image: "registry.invalid/probe:1"}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create cordon probe pod: %v", err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitLimit, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, probe.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			return false, fmt.Errorf("probe pod scheduled to %s although every kwok node is cordoned", p.Spec.NodeName)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("waiting for the scheduler to see the cordon: %v", err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, probe.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatalf("delete cordon probe pod: %v", err)
	}
}

func setUnschedulable(ctx context.Context, t *testing.T, cs kubernetes.Interface, node string, v bool) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, v)
	if _, err := cs.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("set node %s unschedulable=%t: %v", node, v, err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
