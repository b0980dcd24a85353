package canary

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// OwnerKey returns the assignment key that decides obj's owner version: the
// key of its controller owner (metav1.GetControllerOf) when it has one — a
// child follows its controller — else obj's own key from gvk. The owner is
// looked up in obj's namespace (owner references cannot cross namespaces).
// isChild tells which case applied.
func OwnerKey(gvk schema.GroupVersionKind, obj v1.Object) (key string, isChild bool) {
	if ref := v1.GetControllerOf(obj); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err == nil {
			return Key(gv.Group, ref.Kind, obj.GetNamespace(), ref.Name), true
		}
	}
	return Key(gvk.Group, gvk.Kind, obj.GetNamespace(), obj.GetName()), false
}

// RevisionOf returns the revision that owns an object with these labels:
// the value of label key (LabelControllerRevision in practice) when set and
// non-empty, else stable. When revert is true every object belongs to
// stable, whatever its label: that is the one-switch revert.
func RevisionOf(labels map[string]string, key, stable string, revert bool) string {
	if revert {
		return stable
	}
	if v := labels[key]; v != "" {
		return v
	}
	return stable
}
