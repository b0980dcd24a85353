package demo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// The staged strategy on a small fleet: zero failed handshakes in the table
// and a JSON report with the per-strategy figures the issue asks for.
func TestRotateStagedWritesTableAndReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	out, progress, err := runCmd(t, "rotate", "--strategy", "staged", "--servers", "3", "--clients", "2",
		"--load-once", "0.34", "--propagation", "200ms", "--grace", "50ms", "--startup", "50ms",
		"--handshakes", "300", "--json", jsonPath, "--svg", svgPath)
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, progress)
	}
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "staged" {
			row = f
		}
	}
	if len(row) < 4 || row[1] != "Succeeded" || row[3] != "0" {
		t.Fatalf("staged row %q, want Succeeded with 0 failed:\n%s", row, out)
	}
	if !strings.Contains(progress, "[staged] step 1: add-new-ca-to-bundles") {
		t.Errorf("progress on stderr lacks the steps:\n%s", progress)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Schema string `json:"schema"`
		Runs   []struct {
			Name     string             `json:"name"`
			Requests *int64             `json:"requests"`
			Failures *int64             `json:"failures"`
			Outage   *float64           `json:"longest_outage_ms"`
			Metrics  map[string]float64 `json:"metrics"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Name != "staged" || rep.Runs[0].Requests == nil ||
		*rep.Runs[0].Requests < 300 || rep.Runs[0].Failures == nil || *rep.Runs[0].Failures != 0 || rep.Runs[0].Outage == nil {
		t.Fatalf("report runs: %s", b)
	}
	if rep.Runs[0].Metrics["floor_ms"] <= 0 || rep.Runs[0].Metrics["plan_wall_ms"] < rep.Runs[0].Metrics["floor_ms"] {
		t.Fatalf("metrics %v: want floor_ms > 0 and plan_wall_ms >= floor_ms", rep.Runs[0].Metrics)
	}
	if svg, err := os.ReadFile(svgPath); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("svg: %v", err)
	}
}

func TestRotateRejectsBadFlagsBeforeStartingAFleet(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"rotate", "--strategy", "yolo"},
		{"rotate", "--load-once", "2"},
		{"rotate", "--replicas", "1"},
		{"rotate", "--servers", "0"},
	} {
		_, progress, err := runCmd(t, args...)
		if err == nil {
			t.Errorf("%v: no error", args)
		}
		if strings.Contains(progress, "handshakes") {
			t.Errorf("%v: probed before rejecting the flags:\n%s", args, progress)
		}
	}
}
