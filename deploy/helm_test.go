package deploy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/internal/cli/controller"
	"github.com/handover-dev/handover/internal/testenv"
)

// helmBinary returns $HELM or helm on PATH (testenv.RequireHelm: without
// one the chart tests skip under -short and fail in the full tier).
func helmBinary(t *testing.T) string {
	t.Helper()
	return testenv.RequireHelm(t)
}

// checkChart lints and renders the chart with default values, dry-runs every
// rendered object against the apiserver of c (namespace ns and the CRD must
// exist) and checks that the Deployment's args are flags of `handover
// controller`.
func checkChart(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	helm := helmBinary(t)
	chart := filepath.Join("helm", "handover")
	if out, err := exec.CommandContext(ctx, helm, "lint", "--strict", chart).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, helm, "template", "rel", chart, "--namespace", ns)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(path, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	docs := readDocs(t, path)
	want := map[string]bool{"ServiceAccount": false, "ClusterRole": false, "ClusterRoleBinding": false,
		"Role": false, "RoleBinding": false, "Deployment": false, "Service": false}
	for _, u := range docs {
		want[u.GetKind()] = true
		if err := apply(ctx, c, u, true); err != nil {
			t.Errorf("dry-run rendered chart: %v", err)
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("rendered chart has no %s (got %s)", k, kinds(docs))
		}
	}
	args := controllerArgs(t, docs)
	if err := controller.NewCommand().ParseFlags(args[1:]); err != nil {
		t.Errorf("handover controller rejects the chart's flags %v: %v", args, err)
	}
}
