package session

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/report"
)

// TestWriteReportFiles writes the JSON and SVG forms into directories that do
// not exist yet, reads the JSON back, skips empty paths, and names the flag
// when a path cannot be written.
func TestWriteReportFiles(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := ReportRun("etcd-migration", &Outcome{Summary: probe.Summary{Start: start, End: start.Add(time.Second), Outcome: "Succeeded"},
		PointOfNoReturn: "remove-old-member-1"})
	rep := report.NewAt(start, run)
	dir := t.TempDir()

	t.Run("both files, parents created", func(t *testing.T) {
		t.Parallel()
		jsonPath := filepath.Join(dir, "a", "b", "r.json")
		svgPath := filepath.Join(dir, "c", "r.svg")
		if err := WriteReportFiles(rep, jsonPath, svgPath); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(jsonPath)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		got, err := report.ReadJSON(f)
		if err != nil {
			t.Fatalf("read back %s: %v", jsonPath, err)
		}
		if len(got.Runs) != 1 || got.Runs[0].Name != "etcd-migration" || got.Runs[0].Outcome != "Succeeded" || got.Runs[0].PointOfNoReturn != "remove-old-member-1" {
			t.Fatalf("read back runs = %+v, want one etcd-migration run, outcome Succeeded, its point of no return", got.Runs)
		}
		svg, err := os.ReadFile(svgPath)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) {
			t.Fatalf("%s holds no <svg element", svgPath)
		}
	})
	t.Run("empty paths are skipped", func(t *testing.T) {
		t.Parallel()
		// Creating "" fails, so an error here means an empty path was not skipped.
		if err := WriteReportFiles(rep, "", ""); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct{ name, json, svg, flag string }{
		{"json path is a directory", dir, "", "flag --json: "},
		{"svg path is a directory", "", dir, "flag --svg: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := WriteReportFiles(rep, tc.json, tc.svg)
			if err == nil || !strings.HasPrefix(err.Error(), tc.flag) {
				t.Fatalf("err = %v, want it to start with %q", err, tc.flag)
			}
		})
	}
}
