package deploy_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/ca"
)

// checkUserRoles binds handover-view to user "viewer" and handover-view +
// handover-edit to "editor" in a fresh namespace and runs the CLI as each:
// both may `ca status`, only the editor may `ca rotate`.
func checkUserRoles(ctx context.Context, t *testing.T, c client.Client, cfg *rest.Config) {
	t.Helper()
	const ns = "team"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	bind := func(user, role string) {
		must(c.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user + "-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
		}))
	}
	bind("viewer", "handover-view")
	bind("editor", "handover-view")
	bind("editor", "handover-edit")
	must(c.Create(ctx, &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-ca"},
		Spec:       v1alpha1.CertificateAuthoritySpec{Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}}},
	}))

	run := func(user string, args ...string) (string, error) {
		kc := clientcmdapi.NewConfig()
		kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
		kc.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Impersonate: user,
			ImpersonateGroups: []string{"system:authenticated"}}
		kc.Contexts[user] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: user, Namespace: ns}
		kc.CurrentContext = user
		path := filepath.Join(t.TempDir(), "kubeconfig")
		must(clientcmd.WriteToFile(*kc, path))
		cmd := ca.NewCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		cmd.SetArgs(append(args, "--kubeconfig", path))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	for _, user := range []string{"viewer", "editor"} {
		if out, err := run(user, "status", "team-ca"); err != nil {
			t.Errorf("%s: ca status: %v\n%s", user, err, out)
		}
	}
	if _, err := run("viewer", "rotate", "team-ca", "--token", "v"); err == nil || !strings.Contains(err.Error(), "no permission to patch") {
		t.Errorf("viewer: ca rotate returned %v, want a permission error", err)
	}
	if out, err := run("editor", "rotate", "team-ca", "--token", "e"); err != nil {
		t.Errorf("editor: ca rotate: %v\n%s", err, out)
	}
}
