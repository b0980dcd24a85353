// Package canarytest starts what the canary's tests share: a real
// kube-apiserver (testenv.StartAPIServer) with the Route and
// ControllerCanary CRDs installed. Imported by tests only.
package canarytest

import (
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/testenv"
)

// StartAPIServer starts etcd and kube-apiserver for t, installs the Route
// and ControllerCanary CRDs, and returns the admin config and a client with
// sample.NewScheme.
func StartAPIServer(t testing.TB) (*rest.Config, client.Client) {
	t.Helper()
	cfg := testenv.StartAPIServer(t)
	crds, err := sample.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: crds}); err != nil {
		t.Fatalf("install CRDs: %v", err)
	}
	s, err := sample.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}
