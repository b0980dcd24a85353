package sample

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Versions of the sample controller.
const (
	V1 = "v1" // good
	V2 = "v2" // seed 003's bug: orphan cleanup deletes every child it did not create itself
	V3 = "v3" // good upgrade: renders one more key
)

// LabelRoute names a child's Route; orphan cleanup lists children by it.
const LabelRoute = "sample.handover.dev/route"

// ChildName is the name of route's child ConfigMap.
func ChildName(route string) string { return route + "-route" }

// Child renders route's ConfigMap as version renders it: data host and
// backend, and from v3 on format=v3; labelled with LabelRoute and
// controlled by route.
func Child(r *Route, version string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.Namespace, Name: ChildName(r.Name),
			Labels: map[string]string{LabelRoute: r.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: GroupVersion.String(), Kind: "Route", Name: r.Name, UID: r.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Data: map[string]string{"host": r.Spec.Host, "backend": r.Spec.Backend},
	}
	if version == V3 {
		cm.Data["format"] = V3
	}
	return cm
}

// Correct reports whether cm is a correct rendering of r by any version:
// host and backend match, and any other key is format=v3.
func Correct(cm *corev1.ConfigMap, r *Route) bool {
	if cm.Data["host"] != r.Spec.Host || cm.Data["backend"] != r.Spec.Backend {
		return false
	}
	for k, v := range cm.Data {
		switch k {
		case "host", "backend":
		case "format":
			if v != V3 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// sameData reports whether two data maps are equal.
func sameData(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
