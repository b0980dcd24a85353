package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/cluster"
)

const clusterWait = 2 * time.Minute

// TestRestartsOnCluster runs RolloutRestart and Evict on the kubelet-less
// cluster: a real controller-manager rolls Deployments out, the scheduler
// places pods on kwok nodes, and the Eviction API enforces a
// PodDisruptionBudget (HTTP 429).
func TestRestartsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a full cluster")
	}
	cl := testenv.StartCluster(t, testenv.ClusterOptions{})
	c := newClient(t, cl.RESTConfig)
	cs, err := kubernetes.NewForConfig(cl.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("RestartAndEvict", func(t *testing.T) { testRestartAndEvict(t, cl, c, cs) })
	t.Run("StagedRotation", func(t *testing.T) { testStagedRotation(t, c) })
}

func testRestartAndEvict(t *testing.T, cl *cluster.Cluster, c client.Client, cs kubernetes.Interface) {
	ctx := t.Context()
	const ns = "restarts"
	mkNamespace(t, c, ns)
	for _, d := range []*appsv1.Deployment{deployment(ns, "roll", 2), deployment(ns, "evict", 3)} {
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// The budget first allows no disruption at all (minAvailable 3 of 3).
	pdb := testenv.MinAvailableBudget(ns, "evict", 3)
	if err := c.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	rollPods := waitPods(t, c, ns, "roll", 2, nil)
	evictPods := waitPods(t, c, ns, "evict", 3, nil)

	logs := &logSink{}
	spec := v1alpha1.CertificateAuthoritySpec{
		PropagationTimeout: v1alpha1.NewDuration(time.Second),
		TrustBundles:       []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "bundle"}},
		Consumers: []v1alpha1.Consumer{
			{Name: "roll", Kind: "Deployment", WorkloadName: "roll", Reload: v1alpha1.ReloadRolloutRestart},
			{Name: "evict", Kind: "Deployment", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "evict"}}, Reload: v1alpha1.ReloadEvict},
		},
	}
	b := mustNew(t, c, newCAObject(ns, spec), Options{EvictionRetry: 300 * time.Millisecond, PollInterval: 200 * time.Millisecond, Log: logs.logger()})
	ca := newCA(t, "cluster-ca")
	probeCert := probeLeaf(t, ca)
	if err := b.PublishTrustBundle(ctx, bundleOf(ca)); err != nil {
		t.Fatal(err)
	}
	var bundle corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bundle"}, &bundle); err != nil {
		t.Fatal(err)
	}
	marker := bundle.Annotations[AnnotationPublishedAt]
	consumers, err := b.Consumers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roll, evict := consumers[0], consumers[1]
	if roll.Replicas != 2 || evict.Replicas != 3 {
		t.Fatalf("replicas from status: roll %d evict %d, want 2 and 3", roll.Replicas, evict.Replicas)
	}
	if err := b.VerifyAcceptsCA(ctx, roll, probeCert); !errors.Is(err, ErrPropagating) {
		t.Fatalf("load-once consumer before any restart: %v, want ErrPropagating", err)
	}

	// RolloutRestart: every pod replaced, the template carries the publish.
	rctx, cancel := context.WithTimeout(ctx, clusterWait)
	defer cancel()
	if err := b.RollingRestart(rctx, roll); err != nil {
		t.Fatalf("RollingRestart(roll): %v", err)
	}
	waitPods(t, c, ns, "roll", 2, uids(rollPods))
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "roll"}, &d); err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Annotations[AnnotationRestartedAt]; got != marker {
		t.Errorf("template annotation %q = %q, want the publish %q", AnnotationRestartedAt, got, marker)
	}
	if err := b.VerifyAcceptsCA(ctx, roll, probeCert); err != nil {
		t.Errorf("load-once consumer after its restart: %v", err)
	}
	// Re-applying (as after a crash) does not restart again.
	gen := d.Generation
	if err := b.RollingRestart(rctx, roll); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "roll"}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Generation != gen {
		t.Errorf("re-apply restarted again: generation %d → %d", gen, d.Generation)
	}

	// Evict: watch the pods throughout; the budget must never be violated.
	w := watchReady(t, cs, ns, "evict")
	done := make(chan error, 1)
	go func() { done <- b.RollingRestart(rctx, evict) }()
	if !logs.waitFor(ctx, "retrying", clusterWait) {
		t.Fatal("no 429 retry logged while the budget allowed no disruption")
	}
	// While the budget allows nothing, every original pod is still there.
	for _, p := range evictPods {
		var cur corev1.Pod
		if err := c.Get(ctx, client.ObjectKeyFromObject(&p), &cur); err != nil || cur.UID != p.UID || cur.DeletionTimestamp != nil {
			t.Fatalf("pod %s disrupted while the budget allowed none (err %v)", p.Name, err)
		}
	}
	patch := []byte(`{"spec":{"minAvailable":2}}`)
	if err := c.Patch(ctx, pdb, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RollingRestart(evict): %v", err)
		}
	case <-rctx.Done():
		t.Fatal("evictions did not finish")
	}
	replaced := waitPods(t, c, ns, "evict", 3, uids(evictPods))
	// Re-applying for the same publish evicts nothing.
	if err := b.RollingRestart(rctx, evict); err != nil {
		t.Fatal(err)
	}
	for _, p := range replaced {
		var cur corev1.Pod
		if err := c.Get(ctx, client.ObjectKeyFromObject(&p), &cur); err != nil || cur.DeletionTimestamp != nil {
			t.Errorf("re-apply evicted %s again (err %v)", p.Name, err)
		}
	}
	// A crash mid-way: the record says only replaced[0] is left to evict
	// for a newer publish; the re-apply evicts it and nothing else.
	if err := b.PublishTrustBundle(ctx, bundleOf(ca, newCA(t, "extra"))); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bundle"}, &bundle); err != nil {
		t.Fatal(err)
	}
	rec := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, AnnotationEvicting,
		fmt.Sprintf(`{"for":%q,"pods":[%q]}`, bundle.Annotations[AnnotationPublishedAt], replaced[0].UID))
	if err := c.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "evict", Namespace: ns}}, client.RawPatch(types.MergePatchType, []byte(rec))); err != nil {
		t.Fatal(err)
	}
	if err := b.RollingRestart(rctx, evict); err != nil {
		t.Fatal(err)
	}
	for i, p := range replaced {
		var cur corev1.Pod
		err := c.Get(ctx, client.ObjectKeyFromObject(&p), &cur)
		gone := apierrors.IsNotFound(err) || err == nil && (cur.UID != p.UID || cur.DeletionTimestamp != nil)
		if gone != (i == 0) {
			t.Errorf("after resuming evictions: pod %s gone=%v, want %v (err %v)", p.Name, gone, i == 0, err)
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "evict"}, &d); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Annotations[AnnotationEvicting]; ok || d.Annotations[AnnotationEvictedFor] != bundle.Annotations[AnnotationPublishedAt] {
		t.Errorf("after resuming: annotations %v, want evicted-for the new publish and no evicting record", d.Annotations)
	}
	marker = bundle.Annotations[AnnotationPublishedAt]

	minReady := w.stop()
	if minReady < 2 {
		t.Errorf("Ready pods fell to %d during evictions, budget minAvailable is 2 (first 3)", minReady)
	}
	t.Logf("least Ready pods during evictions: %d (measured)", minReady)
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "evict"}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Annotations[AnnotationEvictedFor] != marker {
		t.Errorf("workload annotation %s = %q, want %q", AnnotationEvictedFor, d.Annotations[AnnotationEvictedFor], marker)
	}
	if err := b.VerifyAcceptsCA(ctx, evict, probeCert); err != nil {
		t.Errorf("evicted consumer after its restart: %v", err)
	}
	t.Logf("evictions: %d refused with 429 and retried", logs.count("retrying"))

	// StatefulSet (pods come back under the same name) by Evict and
	// DaemonSet by RolloutRestart, both selected by label.
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, Labels: map[string]string{"kind": "sts"}},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: deployment(ns, "db", 1).Spec.Template}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns, Labels: map[string]string{"kind": "ds"}},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: deployment(ns, "agent", 1).Spec.Template}}
	for _, o := range []client.Object{sts, ds} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	dbPods := waitPods(t, c, ns, "db", 2, nil)
	agentPods := waitPods(t, c, ns, "agent", len(cl.Nodes), nil)
	spec.Consumers = []v1alpha1.Consumer{
		{Name: "db", Kind: "StatefulSet", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"kind": "sts"}}, Reload: v1alpha1.ReloadEvict},
		{Name: "agent", Kind: "DaemonSet", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"kind": "ds"}}, Reload: v1alpha1.ReloadRolloutRestart},
	}
	b = mustNew(t, c, newCAObject(ns, spec), Options{EvictionRetry: 300 * time.Millisecond, PollInterval: 200 * time.Millisecond})
	consumers, err = b.Consumers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cons := range consumers {
		if err := b.RollingRestart(rctx, cons); err != nil {
			t.Fatalf("RollingRestart(%s): %v", cons.Name, err)
		}
		if err := b.VerifyAcceptsCA(ctx, cons, probeCert); err != nil {
			t.Errorf("%s after its restart: %v", cons.Name, err)
		}
	}
	waitPods(t, c, ns, "db", 2, uids(dbPods))
	waitPods(t, c, ns, "agent", len(cl.Nodes), uids(agentPods))
}

func uids(pods []corev1.Pod) map[types.UID]bool {
	m := map[types.UID]bool{}
	for _, p := range pods {
		m[p.UID] = true
	}
	return m
}

// waitPods waits until app has exactly n pods, all Ready, none in old.
func waitPods(t *testing.T, c client.Client, ns, app string, n int, old map[types.UID]bool) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, clusterWait, true, func(ctx context.Context) (bool, error) {
		var l corev1.PodList
		if err := c.List(ctx, &l, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return false, err
		}
		pods = l.Items
		for i := range pods {
			if old[pods[i].UID] || !podReady(&pods[i]) {
				return false, nil
			}
		}
		return len(pods) == n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d new Ready pods of %s: %v (have %d)", n, app, err, len(pods))
	}
	return pods
}

// readyWatch tracks the least number of Ready pods of an app seen.
type readyWatch struct {
	mu     sync.Mutex
	ready  map[types.UID]bool
	min    int
	cancel context.CancelFunc
	done   chan struct{}
}

func watchReady(t *testing.T, cs kubernetes.Interface, ns, app string) *readyWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	w := &readyWatch{ready: map[types.UID]bool{}, cancel: cancel, done: make(chan struct{})}
	for i := range l.Items {
		w.ready[l.Items[i].UID] = podReady(&l.Items[i])
	}
	w.min = w.count()
	wi, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + app, ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer wi.Stop()
		for ev := range wi.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			w.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(w.ready, p.UID)
			} else {
				w.ready[p.UID] = podReady(p)
			}
			w.min = min(w.min, w.count())
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *readyWatch) count() int {
	n := 0
	for _, r := range w.ready {
		if r {
			n++
		}
	}
	return n
}

func (w *readyWatch) stop() int {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.min
}

// logSink collects the backend's log lines (no key material is ever logged).
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		s.mu.Lock()
		s.lines = append(s.lines, prefix+" "+args)
		s.mu.Unlock()
	}, funcr.Options{Verbosity: 1})
}

func (s *logSink) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

func (s *logSink) waitFor(ctx context.Context, sub string, limit time.Duration) bool {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, limit, true, func(context.Context) (bool, error) {
		return s.count(sub) > 0, nil
	})
	return err == nil
}
