package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoEtcd runs the demo small (1 MiB) and checks the report's verdict
// fields: success, 0 failed requests, 0 missing acknowledged writes, 0 watch
// gaps, and the figures the issue asks for are present.
func TestDemoEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: embedded etcd migration")
	}
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "etcd.json")
	svgPath := filepath.Join(dir, "etcd.svg")
	cmd := NewCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	// --benchmark "": the probe's verdict only. With etcd's benchmark tool as
	// the outside client (make test exports HANDOVER_ETCD_BENCHMARK, the
	// flag's default) a put in flight on the removed source fails with
	// "raft: stopped" in 1 of 4 runs or more: the tool's membership sync
	// keeps the source among its endpoints until it is removed (issue 13,
	// open). internal/cli/etcd's TestMembershipFollowingClientSeesNoErrors
	// covers the tool under the client hold.
	cmd.SetArgs([]string{"etcd", "--data", "1", "--members", "1", "--probe-rate", "50", "--benchmark", "", "--json", jsonPath, "--svg", svgPath})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("demo etcd: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Schema string `json:"schema"`
		Runs   []struct {
			Outcome  string             `json:"outcome"`
			Requests int64              `json:"requests"`
			Failures int64              `json:"failures"`
			Metrics  map[string]float64 `json:"metrics"`
			Checks   map[string]int64   `json:"checks"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 {
		t.Fatalf("%d runs", len(rep.Runs))
	}
	r := rep.Runs[0]
	if r.Outcome != "Succeeded" || r.Requests == 0 || r.Failures != 0 {
		t.Fatalf("run %+v", r)
	}
	for _, k := range []string{"missing_acknowledged_writes", "watch_gaps"} {
		if v, ok := r.Checks[k]; !ok || v != 0 {
			t.Errorf("check %s = %d (present %v), want 0", k, v, ok)
		}
	}
	for _, k := range []string{"worst_write_stall_ms", "catchup_mib_per_s", "loopback_copy_mib_per_s", "backup_restore_wall_s", "migration_wall_s"} {
		if r.Metrics[k] <= 0 {
			t.Errorf("metric %s = %v, want > 0", k, r.Metrics[k])
		}
	}
	if !strings.Contains(out.String(), "backup/restore of the same data") {
		t.Errorf("stdout lacks the backup/restore comparison:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "catch-up/t1") {
		t.Errorf("stderr lacks the phase log:\n%s", errb.String())
	}
	if svg, err := os.ReadFile(svgPath); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("svg: %v", err)
	}
}
