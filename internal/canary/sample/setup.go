package sample

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/config/crd"
)

// CRDs returns the Route and ControllerCanary CustomResourceDefinitions,
// decoded from their embedded YAML.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	for name, doc := range map[string][]byte{"routes": CRD, "controllercanaries": crd.ControllerCanary} {
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, c); err != nil {
			return nil, fmt.Errorf("decode embedded CRD %s: %w", name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// NewScheme returns a scheme with client-go's types, handover.dev's and
// Route.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ClusterRoleName is the ClusterRole Grant binds.
const ClusterRoleName = "handover-sample-controller"

// Grant gives each user what the sample controller needs (routes and
// routes/status, configmaps, events; every verb) through one ClusterRole
// and a ClusterRoleBinding per user named "<role>-<user>". Idempotent.
func Grant(ctx context.Context, c client.Client, users ...string) error {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, role, func() error {
		role.Rules = []rbacv1.PolicyRule{
			{APIGroups: []string{GroupVersion.Group}, Resources: []string{"routes", "routes/status"}, Verbs: []string{"*"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
		}
		return nil
	}); err != nil {
		return fmt.Errorf("clusterrole %s: %w", ClusterRoleName, err)
	}
	for _, u := range users {
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName + "-" + u}}
		if _, err := controllerutil.CreateOrUpdate(ctx, c, b, func() error {
			b.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ClusterRoleName}
			b.Subjects = []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: u}}
			return nil
		}); err != nil {
			return fmt.Errorf("clusterrolebinding for %s: %w", u, err)
		}
	}
	return nil
}

// Impersonate returns a copy of admin that impersonates user (the version's
// identity), with a client rate limit high enough for 1,000s of objects
// (QPS 500, burst 1000).
func Impersonate(admin *rest.Config, user string) *rest.Config {
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}
