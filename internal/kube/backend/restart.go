package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/rotation"
)

// RollingRestart makes c's pods restart so they read their mounts afresh,
// for the latest publish (the newest AnnotationPublishedAt of the targets and
// leaf Secrets; now when there is none), whose time is the restart marker:
//
//   - Hot: nothing to do, nil.
//   - RolloutRestart: merge-patches the pod template annotation
//     AnnotationRestartedAt = marker of every selected workload (like
//     `kubectl rollout restart`; a workload already carrying the marker is
//     not patched again, so a re-apply after a crash does not restart twice)
//     and waits until each is rolled out: observedGeneration caught up,
//     every replica updated, no old replica left, every updated replica
//     available (StatefulSet: currentRevision = updateRevision, all ready;
//     DaemonSet: updated and available = desired).
//   - Evict: for every workload not yet carrying AnnotationEvictedFor =
//     marker, evicts its pods one at a time through the policy/v1 Eviction
//     API, so PodDisruptionBudgets are honoured (a rolling update does not
//     consult them). A 429 (the budget allows no disruption now) is retried
//     after Options.EvictionRetry until ctx ends. After each eviction it
//     waits until the pod is gone or terminating and as many other pods are
//     Ready as were before the eviction (the replacement). Then it sets
//     AnnotationEvictedFor = marker on the workload and waits until the
//     workload's status shows it rolled out (as for RolloutRestart), which
//     the verifications require. The pods to evict are recorded first
//     (AnnotationEvicting), so a re-apply after a crash evicts only the
//     recorded pods still running, not their replacements.
//
// It returns when done, or ctx's error; API errors are wrapped naming the
// workload. It never times out by itself: the plan's step timeout bounds it.
func (b *Backend) RollingRestart(ctx context.Context, c rotation.Consumer) error {
	cs, err := b.lookup(c)
	if err != nil {
		return err
	}
	if cs.spec.Reload == v1alpha1.ReloadHot {
		return nil
	}
	st, err := b.readPublished(ctx)
	if err != nil {
		return err
	}
	at := st.latest
	if at.IsZero() {
		at = b.clk.Now()
	}
	marker := at.UTC().Format(time.RFC3339Nano)
	ws, err := b.workloads(ctx, cs)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if cs.spec.Reload == v1alpha1.ReloadEvict {
			err = b.evictAll(ctx, w, marker)
		} else {
			err = b.rolloutRestart(ctx, w, marker)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", cs.spec.Name, err)
		}
	}
	return nil
}

func (b *Backend) rolloutRestart(ctx context.Context, w workload, marker string) error {
	if why := w.cannotRollOut(); why != "" {
		return fmt.Errorf("%w: %s %s: RolloutRestart cannot replace its pods (use reload Evict)", ErrInvalidSpec, w, why)
	}
	if w.template().Annotations[AnnotationRestartedAt] != marker {
		patch := map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{AnnotationRestartedAt: marker}}}}}
		if err := b.mergePatch(ctx, w, patch); err != nil {
			return err
		}
		b.opts.Log.V(1).Info("rollout restart", "workload", w.String(), "restartedAt", marker)
	}
	return b.waitRolledOut(ctx, w)
}

// waitRolledOut re-reads w until it is rolled out (workload.rolledOut), the
// same condition VerifyAcceptsCA/VerifyPresentsLeafFrom require of a
// restarted consumer, or ctx ends.
func (b *Backend) waitRolledOut(ctx context.Context, w workload) error {
	return b.poll(ctx, func(ctx context.Context) (bool, error) {
		if err := b.c.Get(ctx, client.ObjectKeyFromObject(w.obj), w.obj); err != nil {
			return false, fmt.Errorf("get %s: %w", w, err)
		}
		done, _ := w.rolledOut()
		return done, nil
	})
}

func (b *Backend) evictAll(ctx context.Context, w workload, marker string) error {
	if w.obj.GetAnnotations()[AnnotationEvictedFor] == marker {
		return b.waitRolledOut(ctx, w)
	}
	pods, err := b.pods(ctx, w)
	if err != nil {
		return err
	}
	// The pods to replace are recorded before the first eviction, so a
	// re-apply after a crash evicts only those still running, never their
	// replacements.
	todo := map[types.UID]bool{}
	var pending evicting
	if raw := w.obj.GetAnnotations()[AnnotationEvicting]; raw != "" && json.Unmarshal([]byte(raw), &pending) == nil && pending.For == marker {
		for _, u := range pending.Pods {
			todo[u] = true
		}
	} else {
		pending = evicting{For: marker}
		for i := range pods {
			if pods[i].DeletionTimestamp == nil {
				pending.Pods = append(pending.Pods, pods[i].UID)
				todo[pods[i].UID] = true
			}
		}
		raw, err := json.Marshal(pending)
		if err != nil {
			return err
		}
		if err := b.mergePatch(ctx, w, map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationEvicting: string(raw)}}}); err != nil {
			return err
		}
	}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || !todo[p.UID] {
			continue
		}
		if err := b.evictOne(ctx, w, p); err != nil {
			return err
		}
	}
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationEvictedFor: marker, AnnotationEvicting: nil}}}
	if err := b.mergePatch(ctx, w, patch); err != nil {
		return err
	}
	return b.waitRolledOut(ctx, w)
}

// evicting is the value of AnnotationEvicting.
type evicting struct {
	For  string      `json:"for"`
	Pods []types.UID `json:"pods"`
}

// evictOne evicts p (retrying 429s) and waits for its replacement.
func (b *Backend) evictOne(ctx context.Context, w workload, p *corev1.Pod) error {
	readyBefore, err := b.readyPods(ctx, w, "")
	if err != nil {
		return err
	}
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
	for {
		err := b.c.SubResource("eviction").Create(ctx, p, ev)
		if err == nil || apierrors.IsNotFound(err) {
			break
		}
		if !apierrors.IsTooManyRequests(err) {
			return fmt.Errorf("evict pod %s/%s of %s: %w", p.Namespace, p.Name, w, err)
		}
		b.opts.Log.V(1).Info("eviction refused by disruption budget, retrying", "pod", p.Namespace+"/"+p.Name,
			"workload", w.String(), "retryAfter", b.opts.EvictionRetry.String())
		if err := b.sleep(ctx, b.opts.EvictionRetry); err != nil {
			return err
		}
	}
	b.opts.Log.V(1).Info("evicted", "pod", p.Namespace+"/"+p.Name, "workload", w.String())
	return b.poll(ctx, func(ctx context.Context) (bool, error) {
		var cur corev1.Pod
		err := b.c.Get(ctx, client.ObjectKeyFromObject(p), &cur)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return false, fmt.Errorf("get pod %s/%s: %w", p.Namespace, p.Name, err)
		case cur.UID == p.UID && cur.DeletionTimestamp == nil:
			return false, nil
		}
		n, err := b.readyPods(ctx, w, p.UID)
		if err != nil {
			return false, err
		}
		return n >= readyBefore, nil
	})
}

// readyPods counts w's Ready pods other than the one with UID skip.
func (b *Backend) readyPods(ctx context.Context, w workload, skip types.UID) (int, error) {
	pods, err := b.pods(ctx, w)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range pods {
		if pods[i].UID != skip && podReady(&pods[i]) {
			n++
		}
	}
	return n, nil
}

func (b *Backend) mergePatch(ctx context.Context, w workload, patch map[string]any) error {
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if err := b.c.Patch(ctx, w.obj, client.RawPatch(types.MergePatchType, raw)); err != nil {
		return fmt.Errorf("patch %s: %w", w, err)
	}
	return nil
}

// poll calls cond every Options.PollInterval (first call at once) until it
// returns true or an error, or ctx ends.
func (b *Backend) poll(ctx context.Context, cond func(context.Context) (bool, error)) error {
	for {
		done, err := cond(ctx)
		if err != nil || done {
			return err
		}
		if err := b.sleep(ctx, b.opts.PollInterval); err != nil {
			return err
		}
	}
}

func (b *Backend) sleep(ctx context.Context, d time.Duration) error {
	t := b.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
