package certificateauthority

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// checkWorld checks what needs the API before anything is written: every
// target namespace exists and the controller may create, update and get the
// target kind there (an access review of itself, answered by r.Access), and
// every consumer workload exists. It returns every Problem found, joined
// into one (JoinProblems: the first names the reason and field, the message
// lists all), and the pod selectors of the declared consumers. Namespaces
// and workloads are read from the manager's cache, which watches them
// (watch.go), so creating a missing one reconciles at once.
func (r *Reconciler) checkWorld(ctx context.Context, ca *v1alpha1.CertificateAuthority) (*Problem, []DeclaredSelector, error) {
	type access struct{ ns, resource string }
	checked := map[access]*Problem{}
	var problems []*Problem
	may := func(field, ns, resource string) error {
		k := access{ns, resource}
		if p, ok := checked[k]; ok {
			if p != nil {
				problems = append(problems, &Problem{p.Reason, field, p.Message})
			}
			return nil
		}
		var p *Problem
		nsObj := &corev1.Namespace{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: ns}, nsObj); err != nil {
			switch {
			case apierrors.IsNotFound(err):
				p = &Problem{ReasonTargetForbidden, field, fmt.Sprintf("namespace %q does not exist", ns)}
			case apierrors.IsForbidden(err):
				// Cannot tell; the access review below decides.
			default:
				return fmt.Errorf("read namespace %s: %w", ns, err)
			}
		}
		for _, verb := range []string{"create", "update", "get"} {
			if p != nil {
				break
			}
			allowed, err := r.Access.Allowed(ctx, AccessKey{Namespace: ns, Resource: resource, Verb: verb})
			if err != nil {
				return err
			}
			if !allowed {
				p = &Problem{ReasonTargetForbidden, field, fmt.Sprintf("the controller may not %s %s in namespace %q", verb, resource, ns)}
			}
		}
		checked[k] = p
		if p != nil {
			problems = append(problems, p)
		}
		return nil
	}
	resourceOf := func(k v1alpha1.TargetKind) string {
		if k == v1alpha1.TargetConfigMap {
			return "configmaps"
		}
		return "secrets"
	}
	if err := may("metadata.namespace", ca.Namespace, "secrets"); err != nil {
		return nil, nil, err
	}
	for i, t := range ca.Spec.TrustBundles {
		if err := may(fmt.Sprintf("spec.trustBundles[%d].namespace", i), nsOr(t.Namespace, ca.Namespace), resourceOf(t.Kind)); err != nil {
			return nil, nil, err
		}
	}
	for i, c := range ca.Spec.Certificates {
		if err := may(fmt.Sprintf("spec.certificates[%d].namespace", i), nsOr(c.Namespace, ca.Namespace), "secrets"); err != nil {
			return nil, nil, err
		}
	}
	p, err := r.checkCertManager(ctx, ca)
	if err != nil {
		return nil, nil, err
	}
	if p != nil {
		problems = append(problems, p)
	}
	owned, err := r.checkOwnership(ctx, ca)
	if err != nil {
		return nil, nil, err
	}
	problems = append(problems, owned...)
	var declared []DeclaredSelector
	lists := workloadLists{}
	for i, c := range ca.Spec.Consumers {
		field := fmt.Sprintf("spec.consumers[%d]", i)
		sels, p, err := r.workloadSelectors(ctx, lists, c, nsOr(c.Namespace, ca.Namespace), field)
		if err != nil {
			return nil, nil, err
		}
		if p != nil {
			problems = append(problems, p)
		}
		declared = append(declared, sels...)
	}
	return JoinProblems(problems), declared, nil
}

// checkOwnership reads the metadata of every trust bundle target and leaf
// Secret from the manager's metadata-only cache (r.Metadata; no API
// request): each one that exists without ca's ownership mark
// (v1alpha1.AnnotationOwner) is a NotOwned Problem naming the field and the
// object, so nothing is written (handover adopts no object). An object the
// cache has not seen yet is caught by the backend's own check at write time.
func (r *Reconciler) checkOwnership(ctx context.Context, ca *v1alpha1.CertificateAuthority) ([]*Problem, error) {
	want := v1alpha1.OwnerOf(ca.Namespace, ca.Name)
	var out []*Problem
	check := func(field string, kind v1alpha1.TargetKind, ns, name string) error {
		obj := metadataOf(kind)
		err := r.Metadata.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("read %s %s/%s: %w", kind, ns, name, err)
		}
		if got := obj.GetAnnotations()[v1alpha1.AnnotationOwner]; got != want {
			out = append(out, &Problem{ReasonNotOwned, field, fmt.Sprintf(
				"%s/%s exists and is not this CertificateAuthority's (annotation %s is %q, want %q); handover adopts no object: pick another name, or set the annotation to hand it over",
				ns, name, v1alpha1.AnnotationOwner, got, want)})
		}
		return nil
	}
	for i, t := range ca.Spec.TrustBundles {
		if err := check(fmt.Sprintf("spec.trustBundles[%d].name", i), t.Kind, nsOr(t.Namespace, ca.Namespace), t.Name); err != nil {
			return nil, err
		}
	}
	for i, c := range ca.Spec.Certificates {
		if err := check(fmt.Sprintf("spec.certificates[%d].secretName", i), v1alpha1.TargetSecret, nsOr(c.Namespace, ca.Namespace), c.SecretName); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// workload is one consumer workload: its name and pod selector.
type workload struct {
	name string
	pods *metav1.LabelSelector
}

// workloadLists memoizes, for one reconcile, the workload lists by
// kind, namespace and label selector: consumers naming workloads of the same
// kind in the same namespace share one list.
type workloadLists map[[3]string][]workload

// workloadSelectors finds a consumer's workloads and returns their pod
// selectors; none found is a ConsumerNotFound Problem.
func (r *Reconciler) workloadSelectors(ctx context.Context, lists workloadLists, c v1alpha1.Consumer, ns, field string) ([]DeclaredSelector, *Problem, error) {
	sel := labels.Everything()
	what := fmt.Sprintf("%s %s/%s", c.Kind, ns, c.WorkloadName)
	if c.Selector != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(c.Selector); err != nil {
			return nil, &Problem{ReasonInvalidSpec, field + ".selector", err.Error()}, nil
		}
		what = fmt.Sprintf("no %s in namespace %s matches selector %q", c.Kind, ns, sel.String())
	}
	key := [3]string{string(c.Kind), ns, sel.String()}
	all, ok := lists[key]
	if !ok {
		var err error
		if all, err = r.listWorkloads(ctx, c.Kind, ns, sel); err != nil {
			return nil, nil, err
		}
		lists[key] = all
	}
	var podSelectors []*metav1.LabelSelector
	for _, wl := range all {
		if c.Selector != nil || wl.name == c.WorkloadName {
			podSelectors = append(podSelectors, wl.pods)
		}
	}
	if len(podSelectors) == 0 {
		f := field + ".workloadName"
		if c.Selector != nil {
			f = field + ".selector"
			return nil, &Problem{ReasonConsumerNotFound, f, what}, nil
		}
		return nil, &Problem{ReasonConsumerNotFound, f, what + " not found"}, nil
	}
	out := make([]DeclaredSelector, 0, len(podSelectors))
	for _, ps := range podSelectors {
		sel, err := metav1.LabelSelectorAsSelector(ps)
		if err != nil {
			sel = labels.Nothing()
		}
		out = append(out, DeclaredSelector{Namespace: ns, Selector: sel})
	}
	return out, nil, nil
}

// listWorkloads lists (from the manager's cache, which watch.go keeps) the Deployments, StatefulSets or DaemonSets
// (kind; anything else = Deployment) in ns matching sel.
func (r *Reconciler) listWorkloads(ctx context.Context, kind v1alpha1.WorkloadKind, ns string, sel labels.Selector) ([]workload, error) {
	var list client.ObjectList
	switch kind {
	case "StatefulSet":
		list = &appsv1.StatefulSetList{}
	case "DaemonSet":
		list = &appsv1.DaemonSetList{}
	default:
		list = &appsv1.DeploymentList{}
	}
	opts := []client.ListOption{client.InNamespace(ns)}
	if !sel.Empty() {
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	if err := r.Client.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", kind, ns, err)
	}
	var out []workload
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, workload{l.Items[i].Name, l.Items[i].Spec.Selector})
		}
	case *appsv1.StatefulSetList:
		for i := range l.Items {
			out = append(out, workload{l.Items[i].Name, l.Items[i].Spec.Selector})
		}
	case *appsv1.DaemonSetList:
		for i := range l.Items {
			out = append(out, workload{l.Items[i].Name, l.Items[i].Spec.Selector})
		}
	}
	return out, nil
}

// inventory lists the pods in the target namespaces and returns the
// undeclared ones (Undeclared).
func (r *Reconciler) inventory(ctx context.Context, ca *v1alpha1.CertificateAuthority, declared []DeclaredSelector) ([]v1alpha1.ObjectReference, error) {
	targets := Targets(ca)
	nss := map[string]bool{}
	var pods []corev1.Pod
	for _, t := range targets {
		if nss[t.Namespace] {
			continue
		}
		nss[t.Namespace] = true
		l := &corev1.PodList{}
		if err := r.Client.List(ctx, l, client.InNamespace(t.Namespace)); err != nil {
			return nil, fmt.Errorf("list pods in %s: %w", t.Namespace, err)
		}
		pods = append(pods, l.Items...)
	}
	return Undeclared(pods, targets, declared), nil
}
