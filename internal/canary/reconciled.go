package canary

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// ReadReconciled lists the objects of the main kind gvk in namespace ("" =
// all) that carry the ownership label of revision and returns what
// ReconciledGate reads of each (metadata.generation, status.observedGeneration,
// status.conditions). A malformed condition list is read as none. Errors:
// the list, named with the kind.
func ReadReconciled(ctx context.Context, c client.Reader, gvk schema.GroupVersionKind, namespace, revision string) ([]ObjectReconcile, error) {
	var list unstructured.UnstructuredList
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{v1alpha1.LabelControllerRevision: revision}); err != nil {
		return nil, fmt.Errorf("list %s of revision %s: %w", gvk.Kind, revision, err)
	}
	out := make([]ObjectReconcile, 0, len(list.Items))
	for i := range list.Items {
		u := &list.Items[i]
		o := ObjectReconcile{Key: Key(gvk.Group, gvk.Kind, u.GetNamespace(), u.GetName()), Generation: u.GetGeneration()}
		o.ObservedGeneration, o.HasObserved, _ = unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		if raw, ok, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); ok {
			for _, x := range raw {
				m, ok := x.(map[string]any)
				if !ok {
					continue
				}
				var cond metav1.Condition
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &cond); err == nil {
					o.Conditions = append(o.Conditions, cond)
				}
			}
		}
		out = append(out, o)
	}
	return out, nil
}
