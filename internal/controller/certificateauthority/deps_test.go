package certificateauthority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// degradedWith: Degraded is True and its message holds every want and
// none of not.
func degradedWith(want, not []string) func(*v1alpha1.CertificateAuthority) bool {
	return func(ca *v1alpha1.CertificateAuthority) bool {
		d := condition(ca, v1alpha1.ConditionDegraded)
		if d == nil || d.Status != metav1.ConditionTrue || d.ObservedGeneration != ca.Generation {
			return false
		}
		for _, w := range want {
			if !strings.Contains(d.Message, w) {
				return false
			}
		}
		for _, n := range not {
			if strings.Contains(d.Message, n) {
				return false
			}
		}
		return true
	}
}

// TestFixesAreNoticedAtOnce runs the controller at its default resync (5
// minutes) as a ServiceAccount that may not write in the object's
// namespace, with a missing consumer workload: the condition names both
// problems at once; creating the Deployment and then the Role are each
// noticed through a watch (the dependency index, the RBAC watch that drops
// the cached access answers), within 30 s, not at the next resync.
func TestFixesAreNoticedAtOnce(t *testing.T) {
	e := newEnv(t)
	e.defaultResync = true
	const team = "team"
	e.namespace(t, team)
	e.startManager(t, e.restrictedConfig(t), false)
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: team},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "app-bundle"}},
			Consumers:    []v1alpha1.Consumer{{Name: "gw", Kind: "Deployment", WorkloadName: "gw", Reload: v1alpha1.ReloadHot}},
		},
	}
	if err := e.c.Create(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	forbidden := `metadata.namespace: the controller may not create secrets in namespace "team"`
	missing := "spec.consumers[0].workloadName: Deployment team/gw not found"
	e.waitFor(t, team, "app", 30*time.Second, "Degraded naming both problems", degradedWith([]string{forbidden, missing}, nil))

	e.deployment(t, team, "gw", map[string]string{"app": "gw"})
	e.waitFor(t, team, "app", 30*time.Second, "the Deployment noticed", degradedWith([]string{forbidden}, []string{missing}))

	user := "system:serviceaccount:handover:controller"
	if err := e.c.Create(context.Background(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "handover-write", Namespace: team}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"get", "create", "update"}},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Create(context.Background(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "handover-write", Namespace: team},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "handover-write"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}}); err != nil {
		t.Fatal(err)
	}
	got := e.waitFor(t, team, "app", 30*time.Second, "the Role noticed: published", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil
	})
	if isTrue(got, v1alpha1.ConditionDegraded) {
		t.Fatalf("still Degraded after both fixes: %+v", got.Status.Conditions)
	}
}
