package backend

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// workload is one Deployment, StatefulSet or DaemonSet.
type workload struct {
	obj client.Object // *appsv1.Deployment, *appsv1.StatefulSet or *appsv1.DaemonSet
}

func (w workload) kind() string {
	switch w.obj.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	default:
		return "DaemonSet"
	}
}

func (w workload) String() string {
	return fmt.Sprintf("%s %s/%s", strings.ToLower(w.kind()), w.obj.GetNamespace(), w.obj.GetName())
}

func (w workload) template() *corev1.PodTemplateSpec {
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *appsv1.StatefulSet:
		return &o.Spec.Template
	case *appsv1.DaemonSet:
		return &o.Spec.Template
	}
	return nil
}

func (w workload) podSelector() (labels.Selector, error) {
	var ls *metav1.LabelSelector
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		ls = o.Spec.Selector
	case *appsv1.StatefulSet:
		ls = o.Spec.Selector
	case *appsv1.DaemonSet:
		ls = o.Spec.Selector
	}
	if ls == nil {
		return nil, fmt.Errorf("%s has no spec.selector", w)
	}
	return metav1.LabelSelectorAsSelector(ls)
}

// statusReplicas is the pod count the workload's status reports.
func (w workload) statusReplicas() int32 {
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		return o.Status.Replicas
	case *appsv1.StatefulSet:
		return o.Status.Replicas
	case *appsv1.DaemonSet:
		return o.Status.DesiredNumberScheduled
	}
	return 0
}

// rolledOut reports whether the latest template is fully rolled out and
// available (kubectl rollout status), with a reason when not.
func (w workload) rolledOut() (bool, string) {
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		want := int32(1)
		if o.Spec.Replicas != nil {
			want = *o.Spec.Replicas
		}
		s := o.Status
		switch {
		case s.ObservedGeneration < o.Generation:
			return false, "rollout not observed yet"
		case s.UpdatedReplicas < want:
			return false, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
		case s.Replicas > s.UpdatedReplicas:
			return false, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
		case s.AvailableReplicas < s.UpdatedReplicas:
			return false, fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas)
		}
		return true, ""
	case *appsv1.StatefulSet:
		want := int32(1)
		if o.Spec.Replicas != nil {
			want = *o.Spec.Replicas
		}
		s := o.Status
		switch {
		case s.ObservedGeneration < o.Generation:
			return false, "rollout not observed yet"
		case s.UpdatedReplicas < want || (s.UpdateRevision != "" && s.CurrentRevision != s.UpdateRevision):
			return false, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
		case s.ReadyReplicas < want:
			return false, fmt.Sprintf("%d of %d replicas ready", s.ReadyReplicas, want)
		}
		return true, ""
	case *appsv1.DaemonSet:
		s := o.Status
		switch {
		case s.ObservedGeneration < o.Generation:
			return false, "rollout not observed yet"
		case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
			return false, fmt.Sprintf("%d of %d pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
		case s.NumberAvailable < s.DesiredNumberScheduled:
			return false, fmt.Sprintf("%d of %d pods available", s.NumberAvailable, s.DesiredNumberScheduled)
		}
		return true, ""
	}
	return false, "unknown kind"
}

func newWorkload(kind string) (client.Object, client.ObjectList) {
	switch kind {
	case "StatefulSet":
		return &appsv1.StatefulSet{}, &appsv1.StatefulSetList{}
	case "DaemonSet":
		return &appsv1.DaemonSet{}, &appsv1.DaemonSetList{}
	default:
		return &appsv1.Deployment{}, &appsv1.DeploymentList{}
	}
}

// workloads resolves a consumer to its workloads, sorted by name. A missing
// workload, or a selector that matches none, wraps ErrNotFound naming the
// field.
func (b *Backend) workloads(ctx context.Context, cs *consumerSpec) ([]workload, error) {
	kind := string(cs.spec.Kind)
	obj, list := newWorkload(kind)
	if cs.selector == nil {
		err := b.c.Get(ctx, types.NamespacedName{Namespace: cs.namespace, Name: cs.spec.WorkloadName}, obj)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s.workloadName: %s %q not found in namespace %q",
				ErrNotFound, cs.field, strings.ToLower(kind), cs.spec.WorkloadName, cs.namespace)
		}
		if err != nil {
			return nil, fmt.Errorf("%s.workloadName: get %s %s/%s: %w", cs.field, strings.ToLower(kind), cs.namespace, cs.spec.WorkloadName, err)
		}
		return []workload{{obj: obj}}, nil
	}
	if err := b.c.List(ctx, list, client.InNamespace(cs.namespace), client.MatchingLabelsSelector{Selector: cs.selector}); err != nil {
		return nil, fmt.Errorf("%s.selector: list %s in %s: %w", cs.field, strings.ToLower(kind), cs.namespace, err)
	}
	var out []workload
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, workload{obj: &l.Items[i]})
		}
	case *appsv1.StatefulSetList:
		for i := range l.Items {
			out = append(out, workload{obj: &l.Items[i]})
		}
	case *appsv1.DaemonSetList:
		for i := range l.Items {
			out = append(out, workload{obj: &l.Items[i]})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s.selector: no %s in namespace %q matches %q",
			ErrNotFound, cs.field, strings.ToLower(kind), cs.namespace, cs.selector.String())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].obj.GetName() < out[j].obj.GetName() })
	return out, nil
}

// pods lists the pods of w (its spec.selector), sorted by name.
func (b *Backend) pods(ctx context.Context, w workload) ([]corev1.Pod, error) {
	sel, err := w.podSelector()
	if err != nil {
		return nil, err
	}
	var l corev1.PodList
	if err := b.c.List(ctx, &l, client.InNamespace(w.obj.GetNamespace()), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", w, err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items, nil
}

// podReady is true for a running, Ready pod that is not terminating.
func podReady(p *corev1.Pod) bool {
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

// cannotRollOut says why a template change would never replace w's pods
// (a paused Deployment, an OnDelete update strategy); "" when it would.
func (w workload) cannotRollOut() string {
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		if o.Spec.Paused {
			return "is paused"
		}
	case *appsv1.StatefulSet:
		if o.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			return "has updateStrategy OnDelete"
		}
	case *appsv1.DaemonSet:
		if o.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
			return "has updateStrategy OnDelete"
		}
	}
	return ""
}
