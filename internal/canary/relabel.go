package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Move is one ownership change Relabel made.
type Move struct {
	Key      string    // group/kind/namespace/name
	Revision string    // new owner
	Sent     time.Time // when the label patch was sent
	Done     time.Time // when the apiserver answered it
}

// Relabel sets the ownership label of every object of kind gvk in the
// canary's scope (ScopeOf spec.resources[0], narrowed to namespace unless
// "") to what weight says (ToCanary on the object's Key: canary's
// revision, else no label = stable). With revert every object goes back to
// stable. It patches only objects whose owner changes (a merge patch of
// metadata.labels), workers at a time (≤ 0 = 16), and calls onMove (may be
// nil; called from several goroutines) after each move. When
// spec.stable.acknowledgesDrain is set, a move away from stable follows the
// drain handshake (NextDrainStep): the object is marked first and moves on
// a later call, once acknowledged; a revert never waits. It returns the
// number of objects each revision owns afterwards (by the stable and canary
// revision names; an object waiting for its drain counts for its current
// owner) and the first error; it continues after errors.
func Relabel(ctx context.Context, c client.Client, cc *v1alpha1.ControllerCanary, gvk schema.GroupVersionKind, namespace string, weight int32, revert bool, workers int, onMove func(Move)) (map[string]int, error) {
	r, err := relabel(ctx, c, cc, gvk, namespace, weight, revert, workers, onMove)
	return r.owned, err
}

// relabelResult is what one relabel pass did.
type relabelResult struct {
	owned   map[string]int // by revision, after the pass
	pending int            // objects marked for a drain, not acknowledged yet
}

func relabel(ctx context.Context, c client.Client, cc *v1alpha1.ControllerCanary, gvk schema.GroupVersionKind, namespace string, weight int32, revert bool, workers int, onMove func(Move)) (relabelResult, error) {
	if workers <= 0 {
		workers = 16
	}
	items, err := listInScope(ctx, c, cc, gvk, namespace, 0)
	if err != nil {
		return relabelResult{}, err
	}
	stable, canaryRev := cc.Spec.Stable.Revision, cc.Spec.Canary.Revision
	res := relabelResult{owned: map[string]int{stable: 0, canaryRev: 0}}
	type job struct {
		obj    *metav1.PartialObjectMetadata
		want   string
		labels map[string]any
		move   bool
	}
	jobs := make(chan job)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				sent := time.Now()
				err := patchLabels(ctx, c, j.obj, j.labels)
				if err == nil && j.move && onMove != nil {
					onMove(Move{Key: Key(gvk.Group, gvk.Kind, j.obj.Namespace, j.obj.Name), Revision: j.want, Sent: sent, Done: time.Now()})
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	send := func(j job) {
		select {
		case jobs <- j:
		case <-ctx.Done():
		}
	}
	for i := range items {
		o := &items[i]
		want := stable
		if !revert {
			in, err := ToCanary(Key(gvk.Group, gvk.Kind, o.Namespace, o.Name), weight)
			if err != nil {
				close(jobs)
				wg.Wait()
				return relabelResult{}, err
			}
			if in {
				want = canaryRev
			}
		}
		cur := RevisionOf(o.Labels, v1alpha1.LabelControllerRevision, stable, false)
		marked := o.Labels[v1alpha1.LabelDrain] != "" || o.Labels[v1alpha1.LabelDrainAck] != ""
		if cur == want {
			res.owned[want]++
			if marked { // a drain that a revert or a lower weight overtook
				send(job{obj: o, want: want, labels: map[string]any{v1alpha1.LabelDrain: nil, v1alpha1.LabelDrainAck: nil}})
			}
			continue
		}
		drain := !revert && cur == stable && cc.Spec.Stable.AcknowledgesDrain
		switch NextDrainStep(o.Labels, cur, want, drain) {
		case DrainMove:
			res.owned[want]++
			var value any = want
			if want == stable {
				value = nil
			}
			l := map[string]any{v1alpha1.LabelControllerRevision: value}
			if marked {
				l[v1alpha1.LabelDrain], l[v1alpha1.LabelDrainAck] = nil, nil
			}
			send(job{obj: o, want: want, labels: l, move: true})
		case DrainMark:
			res.owned[cur]++
			res.pending++
			send(job{obj: o, want: want, labels: map[string]any{v1alpha1.LabelDrain: want, v1alpha1.LabelDrainAck: nil}})
		case DrainWait:
			res.owned[cur]++
			res.pending++
		}
	}
	close(jobs)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return res, first
}

// patchLabels merge-patches o's labels (a nil value removes the label).
func patchLabels(ctx context.Context, c client.Client, o *metav1.PartialObjectMetadata, labels map[string]any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, o, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return fmt.Errorf("label %s %s/%s %v: %w", o.Kind, o.Namespace, o.Name, labels, err)
	}
	return nil
}

// listInScope lists the metadata of the objects of the main kind gvk that
// cc selects (Validate makes every main resource's selectors equal those of
// spec.resources[0]), narrowed to namespace unless "". Errors name cc and
// the field or the list.
func listInScope(ctx context.Context, c client.Reader, cc *v1alpha1.ControllerCanary, gvk schema.GroupVersionKind, namespace string, limit int, extra ...labels.Requirement) ([]metav1.PartialObjectMetadata, error) {
	scope, err := ScopeOf(ctx, c, cc.Spec.Resources[0], namespace)
	if err != nil {
		return nil, fmt.Errorf("controllercanary %s: spec.resources[0].%w", cc.Name, err)
	}
	return scope.ListMeta(ctx, c, gvk, limit, extra...)
}
