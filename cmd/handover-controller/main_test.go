package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/handover-dev/handover/internal/testenv"
)

// The operator's binary stays small: it links neither the test harness
// (envtest panics at init without a writable /tmp, as in the pod) nor the
// code only the full CLI needs (the etcd server, the migrations, the
// demos' network tools).
func TestControllerBinaryLinksOnlyTheController(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the binary's dependencies")
	}
	banned := []string{
		"sigs.k8s.io/controller-runtime/pkg/envtest", "sigs.k8s.io/controller-runtime/pkg/internal/testing",
		"go.etcd.io/etcd/server", "github.com/Shopify/toxiproxy", "github.com/miekg/dns",
		"github.com/handover-dev/handover/internal/migration", "github.com/handover-dev/handover/internal/cli/demo",
	}
	for _, pkg := range testenv.LinkedPackages(t, "github.com/handover-dev/handover/internal/controller/certificateauthority") {
		for _, b := range banned {
			if strings.HasPrefix(pkg, b) {
				t.Errorf("cmd/handover-controller links %s", pkg)
			}
		}
	}
}

// cobra adds help and completion only when the command runs; the tree as
// built has exactly the two commands.
func TestRootHasOnlyControllerAndVersion(t *testing.T) {
	var names []string
	for _, c := range newRoot().Commands() {
		names = append(names, c.Name())
	}
	if !slices.Equal(names, []string{"controller", "version"}) {
		t.Fatalf("commands %v, want [controller version]", names)
	}
}
