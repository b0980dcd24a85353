package certificateauthority

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// checkWorld checks what needs the API before anything is written: every
// target namespace exists and the controller may create and update the
// target kind there (SelfSubjectAccessReview), and every consumer workload
// exists. It returns the first Problem (naming the field) and the pod
// selectors of the declared consumers.
func (r *Reconciler) checkWorld(ctx context.Context, ca *v1alpha1.CertificateAuthority) (*Problem, []DeclaredSelector, error) {
	type access struct{ ns, resource string }
	checked := map[access]*Problem{}
	missing := map[string]bool{} // namespace read once per reconcile
	may := func(field, ns, resource string) (*Problem, error) {
		k := access{ns, resource}
		if p, ok := checked[k]; ok {
			if p != nil {
				p = &Problem{p.Reason, field, p.Message}
			}
			return p, nil
		}
		gone, read := missing[ns]
		if !read {
			nsObj := &corev1.Namespace{}
			if err := r.APIReader.Get(ctx, types.NamespacedName{Name: ns}, nsObj); err != nil {
				switch {
				case apierrors.IsNotFound(err):
					gone = true
				case apierrors.IsForbidden(err):
					// Cannot tell; the access review below decides.
				default:
					return nil, fmt.Errorf("read namespace %s: %w", ns, err)
				}
			}
			missing[ns] = gone
		}
		var p *Problem
		if gone {
			p = &Problem{ReasonTargetForbidden, field, fmt.Sprintf("namespace %q does not exist", ns)}
		}
		for _, verb := range []string{"create", "update", "get"} {
			if p != nil {
				break
			}
			rev := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource},
			}}
			if err := r.Client.Create(ctx, rev); err != nil {
				return nil, fmt.Errorf("access review %s %s in %s: %w", verb, resource, ns, err)
			}
			if !rev.Status.Allowed {
				p = &Problem{ReasonTargetForbidden, field, fmt.Sprintf("the controller may not %s %s in namespace %q", verb, resource, ns)}
			}
		}
		checked[k] = p
		return p, nil
	}
	resourceOf := func(k v1alpha1.TargetKind) string {
		if k == v1alpha1.TargetConfigMap {
			return "configmaps"
		}
		return "secrets"
	}
	if p, err := may("metadata.namespace", ca.Namespace, "secrets"); p != nil || err != nil {
		return p, nil, err
	}
	for i, t := range ca.Spec.TrustBundles {
		if p, err := may(fmt.Sprintf("spec.trustBundles[%d].namespace", i), nsOr(t.Namespace, ca.Namespace), resourceOf(t.Kind)); p != nil || err != nil {
			return p, nil, err
		}
	}
	for i, c := range ca.Spec.Certificates {
		if p, err := may(fmt.Sprintf("spec.certificates[%d].namespace", i), nsOr(c.Namespace, ca.Namespace), "secrets"); p != nil || err != nil {
			return p, nil, err
		}
	}
	if p, err := r.checkCertManager(ctx, ca); p != nil || err != nil {
		return p, nil, err
	}
	if p, err := r.checkOwnership(ctx, ca); p != nil || err != nil {
		return p, nil, err
	}
	var declared []DeclaredSelector
	lists := workloadLists{}
	for i, c := range ca.Spec.Consumers {
		field := fmt.Sprintf("spec.consumers[%d]", i)
		sels, p, err := r.workloadSelectors(ctx, lists, c, nsOr(c.Namespace, ca.Namespace), field)
		if p != nil || err != nil {
			return p, nil, err
		}
		declared = append(declared, sels...)
	}
	return nil, declared, nil
}

// checkOwnership reads every trust bundle target and leaf Secret from the
// manager's cache (the backend writes through the same cache, so no extra
// API request): one that exists without ca's ownership mark
// (v1alpha1.AnnotationOwner) is a NotOwned Problem naming the field and the
// object, so nothing is written (handover adopts no object). An object the
// cache has not seen yet is caught by the backend's own check at write time.
func (r *Reconciler) checkOwnership(ctx context.Context, ca *v1alpha1.CertificateAuthority) (*Problem, error) {
	want := v1alpha1.OwnerOf(ca.Namespace, ca.Name)
	check := func(field string, obj client.Object, ns, name string) (*Problem, error) {
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("read %s %s/%s: %w", obj.GetObjectKind().GroupVersionKind().Kind, ns, name, err)
		}
		if got := obj.GetAnnotations()[v1alpha1.AnnotationOwner]; got != want {
			return &Problem{ReasonNotOwned, field, fmt.Sprintf(
				"%s/%s exists and is not this CertificateAuthority's (annotation %s is %q, want %q); handover adopts no object: pick another name, or set the annotation to hand it over",
				ns, name, v1alpha1.AnnotationOwner, got, want)}, nil
		}
		return nil, nil
	}
	for i, t := range ca.Spec.TrustBundles {
		var obj client.Object = &corev1.Secret{}
		if t.Kind == v1alpha1.TargetConfigMap {
			obj = &corev1.ConfigMap{}
		}
		if p, err := check(fmt.Sprintf("spec.trustBundles[%d].name", i), obj, nsOr(t.Namespace, ca.Namespace), t.Name); p != nil || err != nil {
			return p, err
		}
	}
	for i, c := range ca.Spec.Certificates {
		if p, err := check(fmt.Sprintf("spec.certificates[%d].secretName", i), &corev1.Secret{}, nsOr(c.Namespace, ca.Namespace), c.SecretName); p != nil || err != nil {
			return p, err
		}
	}
	return nil, nil
}

// workload is one consumer workload: its name and pod selector.
type workload struct {
	name string
	pods *metav1.LabelSelector
}

// workloadLists memoizes, for one reconcile, the uncached workload lists by
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

// listWorkloads lists (uncached) the Deployments, StatefulSets or DaemonSets
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
	if err := r.APIReader.List(ctx, list, opts...); err != nil {
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
