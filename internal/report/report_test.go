package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/probe"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestNewRunConvertsSummary(t *testing.T) {
	t.Parallel()
	r := fixture()
	atomic := r.Runs[1]
	if atomic.Requests != 500 || atomic.Failures != 75 || atomic.FailureClasses[probe.ClassUnknownAuthority] != 60 ||
		atomic.FailureClasses[probe.ClassBadCertificate] != 15 {
		t.Fatalf("atomic counts = %d/%d %v", atomic.Requests, atomic.Failures, atomic.FailureClasses)
	}
	// Failures from 3200ms to the end (1ms) of the one at 4680ms.
	if atomic.LongestOutageMS != 1481 || atomic.LongestOutageTarget != "server-2" {
		t.Fatalf("outage = %v on %q", atomic.LongestOutageMS, atomic.LongestOutageTarget)
	}
	if atomic.WallMS != 9983.2 || !atomic.StartedAt.Equal(t0) || atomic.Outcome != "Succeeded" {
		t.Fatalf("wall/start/outcome = %v %v %q", atomic.WallMS, atomic.StartedAt, atomic.Outcome)
	}
	var names []string
	for _, p := range atomic.Phases {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "baseline,atomic-swap,after" || atomic.Phases[1].StartMS != 3000 || atomic.Phases[1].EndMS != 6000 {
		t.Fatalf("phases = %+v", atomic.Phases)
	}
	if atomic.BinMS != 20 || len(atomic.Timeline) != 500 || atomic.Timeline[1].TMS != 20 {
		t.Fatalf("timeline: bin %v, %d bins", atomic.BinMS, len(atomic.Timeline))
	}
	if atomic.FailureExamples[probe.ClassBadCertificate] != "remote error: tls: bad certificate" {
		t.Fatalf("examples = %v", atomic.FailureExamples)
	}
}

func TestJSONRoundTripAndRequiredKeys(t *testing.T) {
	t.Parallel()
	r := fixture()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	again := bytes.Buffer{}
	if err := WriteJSON(&again, r); err != nil || !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatalf("two writes of one report differ (err %v)", err)
	}
	got, err := ReadJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip changed the report:\n got %+v\nwant %+v", got.Runs[1].Phases, r.Runs[1].Phases)
	}

	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["schema"] != Schema {
		t.Fatalf("schema = %v", doc["schema"])
	}
	for _, k := range []string{"tool", "generated_at", "runs"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	run := doc["runs"].([]any)[1].(map[string]any)
	for _, k := range []string{"name", "kind", "outcome", "started_at", "ended_at", "wall_ms", "requests", "failures",
		"failure_classes", "longest_outage_ms", "latency", "phases", "bin_ms", "timeline", "metrics", "checks"} {
		if _, ok := run[k]; !ok {
			t.Errorf("run lacks %q", k)
		}
	}
	if run["requests"].(float64) != 500 || run["failures"].(float64) != 75 || run["longest_outage_ms"].(float64) != 1481 {
		t.Fatalf("run figures = %v %v %v", run["requests"], run["failures"], run["longest_outage_ms"])
	}
	for _, k := range []string{"p50_ms", "p90_ms", "p99_ms", "max_ms"} {
		if _, ok := run["latency"].(map[string]any)[k]; !ok {
			t.Errorf("latency lacks %q", k)
		}
	}
	phase := run["phases"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "start_ms", "end_ms", "requests", "failures", "failure_classes", "longest_outage_ms", "latency"} {
		if _, ok := phase[k]; !ok {
			t.Errorf("phase lacks %q", k)
		}
	}
	bin := run["timeline"].([]any)[0].(map[string]any)
	for _, k := range []string{"t_ms", "requests", "failures", "p99_ms"} {
		if _, ok := bin[k]; !ok {
			t.Errorf("bin lacks %q", k)
		}
	}
}

func TestInvalidReportsAreRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Report)
		want   error
		field  string
	}{
		{"wrong schema", func(r *Report) { r.Schema = "handover.report/v0" }, ErrSchema, "schema"},
		{"empty run name", func(r *Report) { r.Runs[0].Name = "" }, ErrInvalidReport, "name"},
		{"failures above requests", func(r *Report) { r.Runs[1].Failures = 501 }, ErrInvalidReport, "failures"},
		{"negative outage", func(r *Report) { r.Runs[1].LongestOutageMS = -1 }, ErrInvalidReport, "longest_outage_ms"},
		{"NaN latency", func(r *Report) { r.Runs[0].Latency.P99 = math.NaN() }, ErrInvalidReport, "latency.p99_ms"},
		{"infinite metric", func(r *Report) { r.Runs[0].Metrics["floor_ms"] = math.Inf(1) }, ErrInvalidReport, "metrics.floor_ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := fixture()
			tc.mutate(r)
			for name, write := range map[string]func(io.Writer, *Report) error{"json": WriteJSON, "svg": WriteSVG} {
				var buf bytes.Buffer
				err := write(&buf, r)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.field) {
					t.Fatalf("%s: err = %v, want %v naming %s", name, err, tc.want, tc.field)
				}
				if buf.Len() != 0 {
					t.Fatalf("%s: wrote %d bytes for an invalid report", name, buf.Len())
				}
			}
		})
	}
	if _, err := ReadJSON(strings.NewReader(`{"schema":"other/v9","runs":[]}`)); !errors.Is(err, ErrSchema) {
		t.Fatalf("ReadJSON(other schema) = %v, want ErrSchema", err)
	}
	if err := (*Report)(nil).Validate(); !errors.Is(err, ErrInvalidReport) {
		t.Fatalf("nil.Validate() = %v", err)
	}
}

func TestWriteSVG(t *testing.T) {
	t.Parallel()
	r := fixture()
	var buf bytes.Buffer
	if err := WriteSVG(&buf, r); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.svg")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("SVG differs from %s (run go test ./internal/report -run TestWriteSVG -update and review the diff)", golden)
	}

	// Well-formed XML with one band per phase, failure marks, a latency line.
	counts := map[string]int{}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	var labels []string
	inLabel := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			class := attr(el, "class")
			counts[el.Name.Local+"."+strings.Fields(class + " _")[0]]++
			inLabel = class == "band-label"
		case xml.CharData:
			if inLabel {
				labels = append(labels, string(el))
			}
		case xml.EndElement:
			inLabel = false
		}
	}
	phases := len(r.Runs[0].Phases) + len(r.Runs[1].Phases)
	if counts["rect.band"] != phases || counts["g.panel"] != 2 || counts["path.latency"] != 2 || counts["rect.fail"] == 0 {
		t.Fatalf("element counts %v, want %d bands, 2 panels, 2 latency lines, failure marks", counts, phases)
	}
	if !contains(labels, "2 stage-bundle") || !contains(labels, "2 atomic-swap") {
		t.Fatalf("band labels %q lack numbered phase names", labels)
	}
	svg := buf.String()
	// A reader gets the story from the picture: titled axes, a legend, the
	// point of no return, every phase's full name, one time scale for both
	// runs, and no "Succeeded" without the failures beside it.
	for _, want := range []string{
		"time since the run started (same scale in every panel)", "p99 latency of successful attempts",
		"failed attempts (bar height = share of the bin that failed; full = all)",
		`class="pnr"`, ">point of no return<",
		"4 &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co (",
		"atomic · trust-rotation · plan Succeeded, yet 75 of 500 requests failed",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if n := counts["line.pnr"]; n != 3 { // the staged panel's mark and each panel's legend
		t.Errorf("%d point-of-no-return lines, want 3 (the staged run's and one legend per panel)", n)
	}
	if strings.Contains(buf.String(), "<script>") {
		t.Fatal("a phase name was written unescaped")
	}
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestWriteSVGEmptyRun(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewAt(t0, NewRun("idle", "", probe.Summary{}))
	if err := WriteSVG(&buf, r); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(buf.Bytes(), new(struct{})); err != nil || !strings.Contains(buf.String(), "no samples") {
		t.Fatalf("empty run SVG (err %v):\n%s", err, buf.String())
	}
}

func TestWriteTextContainsTheFigures(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := fixture().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"RUN", "LONGEST OUTAGE",
		"staged", "atomic", "trust-rotation", "Succeeded",
		" 500 ", " 75 ", "1.48s", "unknown authority=60, bad certificate=15",
		"atomic phases:", "atomic-swap", hostileName, "metric floor_ms", "2.5", "check missing_acknowledged_writes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatMS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {0.42, "0.42ms"}, {1, "1ms"}, {12.34, "12.3ms"}, {999.9, "999.9ms"},
		{1000, "1s"}, {1481, "1.48s"}, {59_990, "59.99s"}, {60_000, "1m00s"}, {125_400, "2m05s"}, {-2, "-2ms"},
	}
	for _, tc := range tests {
		if got := FormatMS(tc.in); got != tc.want {
			t.Errorf("FormatMS(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNiceCeilAndFit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {-3, 1}, {0.3, 0.5}, {1, 1}, {1.01, 2}, {3, 5}, {7, 10}, {1250, 2000}} {
		if got := niceCeil(tc.in); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{{"stage-bundle", 20, "stage-bundle"}, {"stage-bundle", 6, "stage…"}, {"ab", 2, ""}, {"äöüß", 3, "äö…"}} {
		if got := fit(tc.s, tc.n); got != tc.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestNewFillsSchemaAndTool(t *testing.T) {
	t.Parallel()
	before := time.Now()
	r := New()
	if r.Schema != Schema || r.Tool.Name != "handover" || r.Tool.Version == "" || r.GeneratedAt.Before(before.Add(-time.Second)) || r.Runs == nil {
		t.Fatalf("New() = %+v", r)
	}
}
