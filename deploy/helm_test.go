package deploy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	docs := renderChart(ctx, t, helm, chart, ns)
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
	if cmd := controllerCommand(t, docs); len(cmd) != 1 || cmd[0] != "/handover-controller" {
		t.Errorf("chart's command %v, want [/handover-controller]", cmd)
	}
	args := controllerArgs(t, docs)
	if err := controller.NewCommand().ParseFlags(args[1:]); err != nil {
		t.Errorf("handover controller rejects the chart's flags %v: %v", args, err)
	}
	checkChartNamespaces(ctx, t, helm, chart, ns)
}

// checkChartNamespaces renders the chart with rbac.namespaces=[team-a,
// team-b]: Secret writes, workload patch and pods/eviction are Roles in
// those namespaces only, the ClusterRole keeps only cluster-scoped rules,
// and the controller runs with --namespaces=team-a,team-b.
func checkChartNamespaces(ctx context.Context, t *testing.T, helm, chart, ns string) {
	t.Helper()
	docs := renderChart(ctx, t, helm, chart, ns, "--set", "rbac.namespaces={team-a,team-b}")
	roles := map[string]bool{}
	for _, u := range docs {
		rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
		grants := func(resource, verb string) bool {
			for _, r := range rules {
				m, _ := r.(map[string]any)
				res, _, _ := unstructured.NestedStringSlice(m, "resources")
				verbs, _, _ := unstructured.NestedStringSlice(m, "verbs")
				if slices.Contains(res, resource) && slices.Contains(verbs, verb) {
					return true
				}
			}
			return false
		}
		switch u.GetKind() {
		case "ClusterRole":
			if !strings.Contains(u.GetName(), "manager") {
				continue // handover-view/-edit: the users' roles
			}
			for _, rv := range [][2]string{{"secrets", "create"}, {"deployments", "patch"}, {"pods/eviction", "create"}} {
				if grants(rv[0], rv[1]) {
					t.Errorf("with rbac.namespaces ClusterRole %s still grants %s %s cluster-wide", u.GetName(), rv[1], rv[0])
				}
			}
			if !grants("namespaces", "get") {
				t.Errorf("ClusterRole %s lacks get namespaces", u.GetName())
			}
		case "Role":
			if grants("secrets", "create") && grants("pods/eviction", "create") && grants("deployments", "patch") {
				roles[u.GetNamespace()] = true
			}
		}
	}
	if !roles["team-a"] || !roles["team-b"] || len(roles) != 2 {
		t.Errorf("manager Roles in %v, want exactly team-a and team-b", roles)
	}
	args := controllerArgs(t, docs)
	if !slices.Contains(args, "--namespaces=team-a,team-b") {
		t.Errorf("controller args %v lack --namespaces=team-a,team-b", args)
	}
	if err := controller.NewCommand().ParseFlags(args[1:]); err != nil {
		t.Errorf("handover controller rejects the chart's flags %v: %v", args, err)
	}
}

// renderChart runs `helm template rel chart --namespace ns extra...` and
// returns the rendered objects.
func renderChart(ctx context.Context, t *testing.T, helm, chart, ns string, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, helm, append([]string{"template", "rel", chart, "--namespace", ns}, extra...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template %v: %v\n%s", extra, err, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(path, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return readDocs(t, path)
}
