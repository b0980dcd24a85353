package canary

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Scope is where the objects of one main resource of a canary are: the
// namespaces to list in ("" = every namespace, one cluster-wide list) and
// the object selector. Only objects in scope are relabelled, checked or
// counted: handover never touches what the spec did not select.
type Scope struct {
	Namespaces []string
	Objects    labels.Selector
}

// ScopeOf resolves res's selectors: with a namespaceSelector, the matching
// namespaces (listed through c; possibly none); without, every namespace.
// namespace, when not "", narrows it to that one namespace (if selected).
// Errors: a bad selector (naming the field), the namespace list.
func ScopeOf(ctx context.Context, c client.Reader, res v1alpha1.CanaryResource, namespace string) (Scope, error) {
	s := Scope{Namespaces: []string{namespace}, Objects: labels.Everything()}
	if res.ObjectSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(res.ObjectSelector)
		if err != nil {
			return Scope{}, fmt.Errorf("objectSelector: %w", err)
		}
		s.Objects = sel
	}
	if res.NamespaceSelector == nil {
		return s, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(res.NamespaceSelector)
	if err != nil {
		return Scope{}, fmt.Errorf("namespaceSelector: %w", err)
	}
	var nss corev1.NamespaceList
	if err := c.List(ctx, &nss, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return Scope{}, fmt.Errorf("list namespaces of namespaceSelector %s: %w", sel, err)
	}
	s.Namespaces = s.Namespaces[:0]
	for _, ns := range nss.Items {
		if namespace == "" || ns.Name == namespace {
			s.Namespaces = append(s.Namespaces, ns.Name)
		}
	}
	slices.Sort(s.Namespaces)
	return s, nil
}

// ListMeta lists the metadata of the objects of gvk in s, with extra label
// requirements (e.g. the ownership label) added to the object selector;
// limit > 0 stops after that many objects. Errors: the first failed list.
func (s Scope) ListMeta(ctx context.Context, c client.Reader, gvk schema.GroupVersionKind, limit int, extra ...labels.Requirement) ([]metav1.PartialObjectMetadata, error) {
	sel := s.Objects.Add(extra...)
	var out []metav1.PartialObjectMetadata
	for _, ns := range s.Namespaces {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		opts := []client.ListOption{client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}}
		if limit > 0 {
			opts = append(opts, client.Limit(int64(limit-len(out))))
		}
		if err := c.List(ctx, &list, opts...); err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", gvk.Kind, nsName(ns), err)
		}
		for i := range list.Items {
			list.Items[i].SetGroupVersionKind(gvk)
		}
		out = append(out, list.Items...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}

func nsName(ns string) string {
	if ns == "" {
		return "every namespace"
	}
	return "namespace " + ns
}
