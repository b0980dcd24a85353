package certificateauthority

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// RBAC objects, metadata only: a change invalidates the cached access
// decisions (AccessCache) and reconciles Degraded CertificateAuthorities.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings;clusterroles;clusterrolebindings,verbs=list;watch

// Field indexes on CertificateAuthorities in the manager's cache.
const (
	// IndexDependsOn holds DependencyKey values of every object a
	// CertificateAuthority reads or writes (DependenciesOf).
	IndexDependsOn = "handover.dev/depends-on"
	// IndexDegraded is "true" for a CertificateAuthority whose Degraded
	// condition is True.
	IndexDegraded = "handover.dev/degraded"
)

// anyName stands for every name (or every namespace) in a DependencyKey: a
// consumer chosen by label selector depends on every workload of its kind
// in its namespace (KeysOf).
const anyName = "*"

// DependencyKey is the index value of one object: "Kind/namespace/name"
// (namespace empty for a Namespace).
func DependencyKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// DependenciesOf lists the DependencyKeys of what ca reads or writes: its
// source Secret and managed copy, every trust bundle target and leaf
// Secret, the namespaces of all of them, and every consumer workload
// (kind/ns/* for a selector). A change of any of them reconciles ca at once
// (the watches of addWatches), not at the next resync. Pure.
func DependenciesOf(ca *v1alpha1.CertificateAuthority) []string {
	seen := map[string]bool{}
	var out []string
	add := func(kind, ns, name string) {
		k := DependencyKey(kind, ns, name)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
		if kind != "Namespace" {
			if nk := DependencyKey("Namespace", "", ns); !seen[nk] {
				seen[nk] = true
				out = append(out, nk)
			}
		}
	}
	add("Secret", ca.Namespace, CopySecretName(ca))
	if ref := ca.Spec.Source.SecretRef; ref != nil {
		add("Secret", ca.Namespace, ref.Name)
	}
	for _, t := range Targets(ca) {
		add(string(t.Kind), t.Namespace, t.Name)
	}
	for _, t := range ca.Spec.TrustBundles {
		if t.NamespaceSelector != nil {
			kind := t.Kind
			if kind == "" {
				kind = v1alpha1.TargetSecret
			}
			// The same name in every namespace the selector may pick; this
			// also adds Namespace//*: a namespace that comes or goes.
			add(string(kind), anyName, t.Name)
		}
	}
	if ca.Spec.CertManager != nil {
		// The cert-manager Certificates' Secrets: the switch-leaves gate reads them.
		add("Secret", ca.Namespace, anyName)
	}
	for _, c := range ca.Spec.Consumers {
		kind := string(c.Kind)
		if kind == "" {
			kind = "Deployment"
		}
		name := c.WorkloadName
		if c.Selector != nil {
			name = anyName
		}
		add(kind, nsOr(c.Namespace, ca.Namespace), name)
	}
	return out
}

// KeysOf returns the DependencyKeys an event of the object kind ns/name
// matches: its own key, every name of its kind in its namespace (a
// consumer by selector; any Secret a namespace's leaves may be), the same
// name in any namespace (a target in every namespace a selector picks),
// and for a Namespace any namespace (a selector may start or stop
// matching). Pure.
func KeysOf(kind, ns, name string) []string {
	if kind == "Namespace" {
		return []string{DependencyKey(kind, "", name), DependencyKey(kind, "", anyName)}
	}
	return []string{DependencyKey(kind, ns, name), DependencyKey(kind, ns, anyName), DependencyKey(kind, anyName, name)}
}

// indexes registers IndexDependsOn and IndexDegraded with mgr's cache.
func indexes(ctx context.Context, mgr manager.Manager) error {
	fi := mgr.GetFieldIndexer()
	if err := fi.IndexField(ctx, &v1alpha1.CertificateAuthority{}, IndexDependsOn, func(o client.Object) []string {
		return DependenciesOf(o.(*v1alpha1.CertificateAuthority))
	}); err != nil {
		return fmt.Errorf("index %s: %w", IndexDependsOn, err)
	}
	if err := fi.IndexField(ctx, &v1alpha1.CertificateAuthority{}, IndexDegraded, func(o client.Object) []string {
		if meta.IsStatusConditionTrue(o.(*v1alpha1.CertificateAuthority).Status.Conditions, v1alpha1.ConditionDegraded) {
			return []string{"true"}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index %s: %w", IndexDegraded, err)
	}
	return nil
}

// addWatches makes b watch what CertificateAuthorities depend on, mapped
// through the index (no list of every CertificateAuthority per event):
// Secrets and ConfigMaps metadata-only (the informer never holds their
// data), Namespaces and the consumer workload kinds as typed objects (the
// reconciler lists them from the cache), and RBAC metadata-only: an RBAC
// change invalidates the access decisions (AccessCache) and reconciles
// every Degraded CertificateAuthority, so a Role created to fix a
// TargetForbidden is noticed at once.
func (r *Reconciler) addWatches(b *builder.Builder, cache client.Reader) *builder.Builder {
	byKey := func(kind string) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
			return listRequests(ctx, cache, KeysOf(kind, obj.GetNamespace(), obj.GetName()), IndexDependsOn)
		})
	}
	rbac := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		r.Access.Invalidate()
		return listRequests(ctx, cache, []string{"true"}, IndexDegraded)
	})
	b = b.
		Watches(&corev1.Secret{}, byKey("Secret"), builder.OnlyMetadata).
		Watches(&corev1.ConfigMap{}, byKey("ConfigMap"), builder.OnlyMetadata).
		Watches(&corev1.Namespace{}, byKey("Namespace")).
		Watches(&appsv1.Deployment{}, byKey("Deployment")).
		Watches(&appsv1.StatefulSet{}, byKey("StatefulSet")).
		Watches(&appsv1.DaemonSet{}, byKey("DaemonSet"))
	for _, o := range []client.Object{&rbacv1.Role{}, &rbacv1.RoleBinding{}, &rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{}} {
		b = b.Watches(o, rbac, builder.OnlyMetadata)
	}
	return b
}

// listRequests returns a request for every CertificateAuthority whose index
// field holds one of values (a cache read; errors yield none).
func listRequests(ctx context.Context, cache client.Reader, values []string, field string) []reconcile.Request {
	seen := map[client.ObjectKey]bool{}
	var out []reconcile.Request
	for _, v := range values {
		list := &v1alpha1.CertificateAuthorityList{}
		if err := cache.List(ctx, list, client.MatchingFields{field: v}); err != nil {
			continue
		}
		for i := range list.Items {
			k := client.ObjectKeyFromObject(&list.Items[i])
			if !seen[k] {
				seen[k] = true
				out = append(out, reconcile.Request{NamespacedName: k})
			}
		}
	}
	return out
}
