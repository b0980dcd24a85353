package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/handover-dev/handover/internal/proc"
)

// CertManagerVersion is the cert-manager release hack/cert-manager-binaries.sh
// builds (keep the two equal).
const CertManagerVersion = "v1.21.2"

// CertManagerBinDir is $HANDOVER_CERT_MANAGER_BIN, else
// $XDG_CACHE_HOME (or ~/.cache)/handover/cert-manager/CertManagerVersion.
func CertManagerBinDir() string {
	if d := os.Getenv("HANDOVER_CERT_MANAGER_BIN"); d != "" {
		return d
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "handover", "cert-manager", CertManagerVersion)
}

// StartCertManager installs cert-manager's CRDs on the apiserver of cfg
// and runs its certificate controllers (hack/cert-manager: the Certificate
// pipeline, the approver, CA and SelfSigned issuers) as a real process,
// stopped by PID when the test ends; its log is printed when the test
// failed. Without the binaries it skips under -short and fails otherwise,
// naming `make cert-manager-binaries`.
func StartCertManager(t testing.TB, cfg *rest.Config) {
	t.Helper()
	dir := CertManagerBinDir()
	bin := filepath.Join(dir, "cert-manager-controller")
	if _, err := os.Stat(bin); err != nil {
		if testing.Short() {
			t.Skipf("skipping in -short: %v", err)
		}
		t.Fatalf("%v (build it with `make cert-manager-binaries`; `make test` does)", err)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join(dir, "crds")}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("install cert-manager CRDs: %v", err)
	}
	work := t.TempDir()
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := writeRESTKubeconfig(kubeconfig, cfg); err != nil {
		t.Fatalf("kubeconfig for cert-manager: %v", err)
	}
	h, err := proc.Start(proc.Spec{
		Name: "cert-manager-controller", Path: bin,
		Args: []string{"--kubeconfig", kubeconfig},
		Log:  filepath.Join(work, "cert-manager.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := proc.Stop(ctx, nil, h, 5*time.Second); err != nil {
			t.Errorf("stop cert-manager: %v", err)
		}
		if t.Failed() {
			t.Logf("cert-manager log (last 60 lines):\n%s", proc.Tail(h.Log, 60))
		}
	})
}

// writeRESTKubeconfig writes cfg (host, CA, client certificate or token) as
// a kubeconfig file (0600).
func writeRESTKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	return clientcmd.WriteToFile(*kc, path)
}
