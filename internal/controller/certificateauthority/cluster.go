package certificateauthority

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// ReasonRunAsNotOwned is the condition reason when the CertificateAuthority
// a ClusterCertificateAuthority would run as exists and is not controlled
// by it.
const ReasonRunAsNotOwned = "RunAsNotOwned"

// ClusterReconciler runs each ClusterCertificateAuthority as the
// CertificateAuthority of the same name in its spec.namespace (the "run-as"
// object): it creates it controlled by the cluster object (so it is
// garbage-collected with it), keeps its spec equal to the cluster object's,
// copies the rotate and revert annotations to it, and mirrors its status
// back. The Reconciler then runs that CertificateAuthority like any other,
// except that its namespace fields may name any namespace: it does so only
// while ClusterSanctioned holds. One reconciler, two kinds; nothing of the
// rotation logic is repeated here. An existing CertificateAuthority of that
// name that the cluster object does not control is never adopted
// (RunAsNotOwned).
type ClusterReconciler struct {
	Client    client.Client
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Clock     clock.Clock
}

// Reconcile implements reconcile.Reconciler for ClusterCertificateAuthority.
func (r *ClusterReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	cca := &v1alpha1.ClusterCertificateAuthority{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, cca); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if cca.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	key := types.NamespacedName{Namespace: cca.Spec.Namespace, Name: cca.Name}
	ca := &v1alpha1.CertificateAuthority{}
	err := r.APIReader.Get(ctx, key, ca)
	switch {
	case apierrors.IsNotFound(err):
		ca = &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		r.desire(cca, ca)
		if err := controllerutil.SetControllerReference(cca, ca, r.Scheme); err != nil {
			return reconcile.Result{}, err
		}
		if err := r.Client.Create(ctx, ca); err != nil {
			if apierrors.IsNotFound(err) {
				return r.problem(ctx, cca, &Problem{ReasonInvalidSpec, "spec.namespace", fmt.Sprintf("namespace %q does not exist", key.Namespace)})
			}
			return reconcile.Result{}, fmt.Errorf("create CertificateAuthority %s for ClusterCertificateAuthority %s: %w", key, cca.Name, err)
		}
		r.Recorder.Eventf(cca, nil, corev1.EventTypeNormal, "RunAsCreated", "RunAs", "runs as CertificateAuthority %s", key)
	case err != nil:
		return reconcile.Result{}, err
	case !metav1.IsControlledBy(ca, cca):
		return r.problem(ctx, cca, &Problem{ReasonRunAsNotOwned, "spec.namespace", fmt.Sprintf(
			"CertificateAuthority %s exists and is not controlled by this ClusterCertificateAuthority; handover adopts no object: delete it or pick another name or namespace", key)})
	default:
		want := ca.DeepCopy()
		r.desire(cca, want)
		if !equality.Semantic.DeepEqual(want.Spec, ca.Spec) || !equality.Semantic.DeepEqual(want.Annotations, ca.Annotations) {
			if err := r.Client.Update(ctx, want); err != nil {
				return reconcile.Result{}, fmt.Errorf("update CertificateAuthority %s: %w", key, err)
			}
			ca = want
		}
	}
	if equality.Semantic.DeepEqual(cca.Status, ca.Status) {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFrom(cca.DeepCopy())
	cca.Status = *ca.Status.DeepCopy()
	if err := r.Client.Status().Patch(ctx, cca, patch); err != nil {
		return reconcile.Result{}, fmt.Errorf("mirror status to ClusterCertificateAuthority %s: %w", cca.Name, err)
	}
	return reconcile.Result{}, nil
}

// desire sets ca's spec to cca's and copies cca's rotate and revert
// annotations (other annotations of ca are kept).
func (r *ClusterReconciler) desire(cca *v1alpha1.ClusterCertificateAuthority, ca *v1alpha1.CertificateAuthority) {
	ca.Spec = *cca.Spec.CertificateAuthoritySpec.DeepCopy()
	for _, k := range []string{v1alpha1.AnnotationRotate, v1alpha1.AnnotationRevert} {
		if v, ok := cca.Annotations[k]; ok {
			if ca.Annotations == nil {
				ca.Annotations = map[string]string{}
			}
			ca.Annotations[k] = v
		}
	}
	if ca.Labels == nil {
		ca.Labels = map[string]string{}
	}
	maps.Copy(ca.Labels, map[string]string{v1alpha1.LabelClusterCertificateAuthority: cca.Name})
}

// problem records p on the cluster object (Degraded, a Warning event) and
// writes nothing else.
func (r *ClusterReconciler) problem(ctx context.Context, cca *v1alpha1.ClusterCertificateAuthority, p *Problem) (reconcile.Result, error) {
	old := findCondition(cca.Status.Conditions, v1alpha1.ConditionDegraded)
	if old == nil || old.Message != p.Error() {
		r.Recorder.Eventf(cca, nil, corev1.EventTypeWarning, p.Reason, "RunAs", "%s", p.Error())
	}
	patch := client.MergeFrom(cca.DeepCopy())
	cca.Status.Conditions = MergeConditions(cca.Status.Conditions, Conditions(ConditionInput{Generation: cca.Generation, Problem: p}, r.Clock.Now()))
	if err := r.Client.Status().Patch(ctx, cca, patch); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: 5 * time.Minute}, nil
}

// ClusterSanctioned reports whether ca is the run-as object of a
// ClusterCertificateAuthority, and so may name other namespaces: ca is
// controlled by the ClusterCertificateAuthority of its own name (same UID),
// whose spec.namespace is ca's namespace and whose spec equals ca's. A
// namespace editor can forge the owner reference but not the cluster
// object's spec: any difference and ca is an ordinary, namespace-scoped
// CertificateAuthority.
func ClusterSanctioned(ctx context.Context, r client.Reader, ca *v1alpha1.CertificateAuthority) (bool, error) {
	ref := metav1.GetControllerOf(ca)
	if ref == nil || ref.Kind != "ClusterCertificateAuthority" || ref.APIVersion != v1alpha1.GroupVersion.String() || ref.Name != ca.Name {
		return false, nil
	}
	cca := &v1alpha1.ClusterCertificateAuthority{}
	if err := r.Get(ctx, types.NamespacedName{Name: ref.Name}, cca); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("read ClusterCertificateAuthority %s: %w", ref.Name, err)
	}
	return cca.UID == ref.UID && cca.DeletionTimestamp == nil && cca.Spec.Namespace == ca.Namespace &&
		equality.Semantic.DeepEqual(cca.Spec.CertificateAuthoritySpec, ca.Spec), nil
}

// runsForCluster reports whether ca names a ClusterCertificateAuthority as
// its controller (not verified; see ClusterSanctioned).
func runsForCluster(ca *v1alpha1.CertificateAuthority) bool {
	ref := metav1.GetControllerOf(ca)
	return ref != nil && ref.Kind == "ClusterCertificateAuthority"
}
