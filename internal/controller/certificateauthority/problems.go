package certificateauthority

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// JoinProblems returns nil for none, the Problem itself for one, and for
// several one Problem with the first's reason and field whose message lists
// every problem ("N problems: field: message; field: message"), so a user
// fixing one sees the others at once instead of one per reconcile. Pure.
func JoinProblems(ps []*Problem) *Problem {
	switch len(ps) {
	case 0:
		return nil
	case 1:
		return ps[0]
	}
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, p.Error())
	}
	return &Problem{
		Reason:  ps[0].Reason,
		Field:   ps[0].Field,
		Message: fmt.Sprintf("%s (and %d more problems: %s)", ps[0].Message, len(ps)-1, strings.Join(parts[1:], "; ")),
	}
}

// nonNil returns the non-nil problems of ps in order. Pure.
func nonNil(ps ...*Problem) []*Problem {
	var out []*Problem
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// metadataOf returns an empty PartialObjectMetadata of the target kind (a
// Secret unless kind is ConfigMap), for reads from the metadata-only cache.
func metadataOf(kind v1alpha1.TargetKind) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	if kind == v1alpha1.TargetConfigMap {
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	} else {
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	}
	return m
}
