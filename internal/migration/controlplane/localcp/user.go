package localcp

import (
	"context"
	"fmt"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// UserGroup is the group of Files.User (see pki.Files.User); Start binds
// it to cluster-admin, as kubeadm does for its admin.conf.
const UserGroup = "kubeadm:cluster-admins"

// bindUser creates the ClusterRoleBinding UserGroup → cluster-admin through
// the source apiserver (as the admin in system:masters), retrying for up to
// a minute while the apiserver settles.
func (l *Local) bindUser(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(l.Endpoint.At(SourceAddr))
	if err != nil {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "handover-cluster-admins"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: UserGroup}}}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bind %s to cluster-admin: %w", UserGroup, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
