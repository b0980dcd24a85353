package ca

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/trust"
)

// -update regenerates testdata: the fixture certificates (random keys and
// serials, fixed dates) and the golden outputs computed from them.
var update = flag.Bool("update", false, "regenerate testdata fixtures and golden files")

const goldenNow = "2026-01-15T00:00:00Z"

// writeFixtures writes committed public certificates with fixed dates, so
// golden outputs are byte-for-byte deterministic. Their keys are not kept.
func writeFixtures(t *testing.T) {
	t.Helper()
	day := 24 * time.Hour
	date := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	newCA := func(cn string, nb time.Time, validity time.Duration) *trust.CA {
		ca, err := trust.NewCA(trust.CAOptions{CommonName: cn, Organization: []string{"handover fixtures"}, NotBefore: nb, Validity: validity}, nb)
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	leaf := func(ca *trust.CA, cn string, at time.Time) []byte {
		l, err := ca.IssueLeaf(trust.LeafOptions{CommonName: cn, DNSNames: []string{cn + ".example"}, IPAddresses: nil, Usage: trust.UsageServer | trust.UsageClient, Validity: 90 * day}, at)
		if err != nil {
			t.Fatal(err)
		}
		return l.CertPEM
	}
	oldCA := newCA("old CA", date("2025-01-01"), 400*day)
	newCA2 := newCA("new CA", date("2026-01-01"), 365*day)
	expired := newCA("expired CA", date("2024-01-01"), 30*day)
	files := map[string][]byte{
		"old-ca.pem":     oldCA.CertPEM,
		"new-ca.pem":     newCA2.CertPEM,
		"web-old.pem":    leaf(oldCA, "web-old", date("2025-12-20")),
		"web-new.pem":    leaf(newCA2, "web-new", date("2026-01-10")),
		"expired-ca.pem": expired.CertPEM,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fixture(name string) string { return filepath.Join("testdata", name) }

// compareGolden compares got with testdata/name, rewriting it with -update.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli/ca -run TestGolden -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestGolden checks the deterministic outputs of inspect and bundle on the
// committed fixtures. Not parallel: -update rewrites the fixtures first.
func TestGolden(t *testing.T) {
	if *update {
		writeFixtures(t)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		golden string
	}{
		{"inspect table", []string{"inspect", fixture("old-ca.pem"), fixture("new-ca.pem"), fixture("web-old.pem")}, 0, "inspect.golden"},
		{"inspect json", []string{"inspect", "-o", "json", fixture("new-ca.pem"), fixture("web-new.pem")}, 0, "inspect-json.golden"},
		{"bundle overlap", []string{"bundle", "--active", fixture("new-ca.pem"), "--previous", fixture("old-ca.pem"),
			"--previous", fixture("expired-ca.pem"), "--in-use", fixture("web-old.pem"), "--in-use", fixture("web-new.pem"), "--now", goldenNow}, 0, "bundle.golden"},
		{"bundle refused by cap", []string{"bundle", "--active", fixture("new-ca.pem"), "--previous", fixture("old-ca.pem"),
			"--in-use", fixture("web-old.pem"), "--max", "1", "--now", goldenNow}, 1, "bundle-refused.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := execute(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, errOut)
			}
			compareGolden(t, tt.golden, "# stdout\n"+out+"# stderr\n"+errOut)
		})
	}
}
