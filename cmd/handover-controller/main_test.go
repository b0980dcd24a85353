package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The operator's binary stays small: it links neither the test harness
// (envtest panics at init without a writable /tmp, as in the pod) nor the
// code only the full CLI needs (the etcd server, the migrations, the
// demos' network tools).
func TestControllerBinaryLinksOnlyTheController(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the binary's dependencies")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	banned := []string{
		"sigs.k8s.io/controller-runtime/pkg/envtest", "sigs.k8s.io/controller-runtime/pkg/internal/testing",
		"go.etcd.io/etcd/server", "github.com/Shopify/toxiproxy", "github.com/miekg/dns",
		"github.com/handover-dev/handover/internal/migration", "github.com/handover-dev/handover/internal/cli/demo",
	}
	deps := strings.Fields(string(out))
	if !strings.Contains(string(out), "github.com/handover-dev/handover/internal/controller/certificateauthority\n") {
		t.Fatalf("go list -deps does not show the controller itself (%d packages)", len(deps))
	}
	for _, pkg := range deps {
		for _, b := range banned {
			if strings.HasPrefix(pkg, b) {
				t.Errorf("cmd/handover-controller links %s", pkg)
			}
		}
	}
}

func TestRootHasOnlyControllerAndVersion(t *testing.T) {
	var names []string
	for _, c := range newRoot().Commands() {
		names = append(names, c.Name())
	}
	got := strings.Join(names, ",")
	if got != "completion,controller,help,version" && got != "controller,version" {
		t.Fatalf("commands %s, want controller and version", got)
	}
}
