package deploy_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/controller"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/testenv"
)

// TestManifestsOnRealAPIServer applies deploy/manifests to a real
// kube-apiserver (server-side dry-run of every object, then for real), checks
// the examples against the installed CRD, and then runs `handover
// controller` as the manifests' ServiceAccount (impersonated, so only the
// generated RBAC applies): it must win the Lease and reconcile a
// CertificateAuthority, publishing its trust bundle and leaf Secret.
func TestManifestsOnRealAPIServer(t *testing.T) {
	cfg := testenv.StartAPIServer(t)
	c, err := kubeflags.Client(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	docs := readDocs(t, "manifests/*.yaml")
	ns := namespaceOf(docs)
	if ns == "" {
		t.Fatalf("manifests hold no Namespace: %s", kinds(docs))
	}
	// The namespace and the CRD must exist before namespaced objects and
	// CRs can even be dry-run.
	for _, u := range docs {
		if k := u.GetKind(); k == "Namespace" || k == "CustomResourceDefinition" {
			if err := apply(ctx, c, u, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := waitForCRD(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, u := range docs {
		if err := apply(ctx, c, u, true); err != nil {
			t.Errorf("dry-run: %v", err)
		}
	}
	for _, u := range docs {
		if err := apply(ctx, c, u, false); err != nil {
			t.Errorf("create: %v", err)
		}
	}

	t.Run("examples are valid CertificateAuthorities", func(t *testing.T) {
		for _, u := range readDocs(t, "examples/*.yaml") {
			if err := apply(ctx, c, nsObject(u.GetNamespace()), false); err != nil {
				t.Fatal(err)
			}
			if err := apply(ctx, c, u, true); err != nil {
				t.Errorf("dry-run example: %v", err)
			}
		}
	})

	t.Run("user roles: view may read, edit may rotate", func(t *testing.T) {
		checkUserRoles(ctx, t, c, cfg)
	})

	t.Run("helm chart renders valid objects", func(t *testing.T) {
		checkChart(ctx, t, c, ns)
	})

	t.Run("the controller's RBAC is the table in docs/operator.md", func(t *testing.T) {
		checkRBACTable(ctx, t, c, cfg, ns, serviceAccountOf(t, docs))
	})

	t.Run("per-namespace Roles (chart rbac.namespaces) are enough", func(t *testing.T) {
		checkPerNamespaceRoles(ctx, t, c, cfg, ns)
	})

	t.Run("the generated RBAC is enough for the controller", func(t *testing.T) {
		sa := serviceAccountOf(t, docs)
		kubeconfig := impersonatingKubeconfig(t, cfg, ns, sa)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			cmd := controller.NewCommand()
			cmd.SetArgs([]string{"--kubeconfig", kubeconfig, "--leader-election-namespace", ns,
				"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--zap-log-level", "error", "--zap-stacktrace-level", "panic"})
			done <- cmd.ExecuteContext(runCtx)
		}()
		defer func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("controller: %v", err)
			}
		}()

		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}); err != nil {
			t.Fatal(err)
		}
		ca := &v1alpha1.CertificateAuthority{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "internal"},
			Spec: v1alpha1.CertificateAuthoritySpec{
				Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{CommonName: "internal CA"}},
				TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "trust"}},
				Certificates: []v1alpha1.CertificateSpec{{SecretName: "web-tls", DNSNames: []string{"web.apps.svc"}}},
			},
		}
		if err := c.Create(ctx, ca); err != nil {
			t.Fatal(err)
		}
		wait, waitCancel := context.WithTimeout(ctx, 45*time.Second)
		defer waitCancel()
		var last string
		for {
			got := &v1alpha1.CertificateAuthority{}
			cm := &corev1.ConfigMap{}
			leaf := &corev1.Secret{}
			err1 := c.Get(wait, client.ObjectKeyFromObject(ca), got)
			err2 := c.Get(wait, client.ObjectKey{Namespace: "apps", Name: "trust"}, cm)
			err3 := c.Get(wait, client.ObjectKey{Namespace: "apps", Name: "web-tls"}, leaf)
			if err1 == nil && err2 == nil && err3 == nil && got.Status.Active != nil && len(leaf.Data["tls.crt"]) > 0 {
				break
			}
			last = conditionsText(got)
			select {
			case <-wait.Done():
				t.Fatalf("controller running as %s/%s did not publish (configmap: %v, secret: %v); conditions: %s",
					ns, sa, err2, err3, last)
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
}

func nsObject(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(name)
	return u
}

func serviceAccountOf(t *testing.T, docs []*unstructured.Unstructured) string {
	t.Helper()
	for _, u := range docs {
		if u.GetKind() == "ServiceAccount" {
			return u.GetName()
		}
	}
	t.Fatal("manifests hold no ServiceAccount")
	return ""
}

// impersonatingKubeconfig writes a kubeconfig that acts as the ServiceAccount
// ns/sa (user system:serviceaccount:ns:sa and its groups) through the admin
// credentials of cfg.
func impersonatingKubeconfig(t *testing.T, cfg *rest.Config, ns, sa string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData,
		Impersonate:       "system:serviceaccount:" + ns + ":" + sa,
		ImpersonateGroups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "sa", Namespace: ns}
	kc.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func conditionsText(ca *v1alpha1.CertificateAuthority) string {
	s := ""
	for _, c := range ca.Status.Conditions {
		s += c.Type + "=" + string(c.Status) + " (" + c.Reason + ": " + c.Message + "); "
	}
	return s
}
