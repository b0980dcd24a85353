package testenv

import (
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// CRDDir is the directory of handover's generated CRDs (config/crd/bases),
// found from this source file, so tests in any package agree on it.
func CRDDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "config", "crd", "bases")
}

// InstallCRDs installs handover's CRDs (CRDDir) on the apiserver of cfg and
// waits until they are served (envtest.InstallCRDs); a failure fails t.
func InstallCRDs(t testing.TB, cfg *rest.Config) {
	t.Helper()
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{CRDDir()}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("install CRDs: %v", err)
	}
}
