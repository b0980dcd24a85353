package main

import (
	"strings"
	"testing"

	"github.com/handover-dev/handover/internal/testenv"
)

// The operator's image runs this binary with a read-only root filesystem and
// no /tmp. Test-only packages must not be linked into it: controller-runtime's
// envtest creates a cache directory in its package init and panics when it
// cannot ("mkdir /tmp: permission denied" in a real pod), before main runs.
func TestBinaryLinksNoTestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the binary's dependencies")
	}
	for _, pkg := range testenv.LinkedPackages(t, "github.com/handover-dev/handover/internal/cli/root") {
		if strings.HasPrefix(pkg, "sigs.k8s.io/controller-runtime/pkg/envtest") ||
			strings.HasPrefix(pkg, "sigs.k8s.io/controller-runtime/pkg/internal/testing") {
			t.Errorf("cmd/handover links %s: the binary would panic at start-up in a pod without a writable /tmp", pkg)
		}
	}
}
