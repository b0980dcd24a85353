package canary

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// ReadReconciled lists the objects of the main kind gvk in cc's scope
// (ScopeOf, narrowed to namespace unless "") that carry the ownership label
// of cc's canary revision and returns what ReconciledGate reads of each
// (metadata.generation, status.observedGeneration, status.conditions). A
// malformed condition list is read as none. Errors: the list, named with the
// kind.
func ReadReconciled(ctx context.Context, c client.Reader, cc *v1alpha1.ControllerCanary, gvk schema.GroupVersionKind, namespace string) ([]ObjectReconcile, error) {
	scope, err := ScopeOf(ctx, c, cc.Spec.Resources[0], namespace)
	if err != nil {
		return nil, fmt.Errorf("controllercanary %s: spec.resources[0].%w", cc.Name, err)
	}
	owned, err := labels.NewRequirement(v1alpha1.LabelControllerRevision, selection.Equals, []string{cc.Spec.Canary.Revision})
	if err != nil {
		return nil, fmt.Errorf("controllercanary %s: spec.canary.revision: %w", cc.Name, err)
	}
	sel := scope.Objects.Add(*owned)
	var items []unstructured.Unstructured
	for _, ns := range scope.Namespaces {
		var list unstructured.UnstructuredList
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, fmt.Errorf("list %s of revision %s in %s: %w", gvk.Kind, cc.Spec.Canary.Revision, nsName(ns), err)
		}
		items = append(items, list.Items...)
	}
	out := make([]ObjectReconcile, 0, len(items))
	for i := range items {
		u := &items[i]
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
