package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/trust"
)

// env is a directory of PEM files made with `ca new` / `ca issue` at a fixed
// --now, plus hand-made bad inputs.
type env struct {
	dir string
}

const envNow = "2026-03-01T00:00:00Z"

func (e env) path(name string) string { return filepath.Join(e.dir, name) }

func newEnv(t *testing.T) env {
	t.Helper()
	e := env{dir: t.TempDir()}
	mustRun(t, "new", "--cn", "old CA", "--now", "2026-01-01T00:00:00Z", "--out-cert", e.path("old-ca.pem"), "--out-key", e.path("old-ca.key"))
	mustRun(t, "new", "--cn", "new CA", "--now", envNow, "--algorithm", "ed25519", "--out-cert", e.path("new-ca.pem"), "--out-key", e.path("new-ca.key"))
	mustRun(t, "new", "--cn", "expired CA", "--now", "2025-01-01T00:00:00Z", "--validity", "24h", "--out-cert", e.path("expired-ca.pem"), "--out-key", e.path("expired-ca.key"))
	mustRun(t, "issue", "--ca-cert", e.path("old-ca.pem"), "--ca-key", e.path("old-ca.key"), "--cn", "web", "--dns", "web.test",
		"--ip", "127.0.0.1", "--usage", "server,client", "--now", envNow, "--out-cert", e.path("web.pem"), "--out-key", e.path("web.key"))
	write := func(name, content string) {
		if err := os.WriteFile(e.path(name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(e.path(name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write("empty.pem", "")
	write("garbage.pem", "this is not PEM at all\n")
	write("trailing.pem", read("old-ca.pem")+"trailing garbage\n")
	write("two-cas.pem", read("new-ca.pem")+read("old-ca.pem"))
	write("key-trailing.key", read("old-ca.key")+"oops")
	key := read("new-ca.key")
	write("key-truncated.key", key[:len(key)-30])
	return e
}

func TestInspect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := mustRun(t, "inspect", e.path("old-ca.pem"), e.path("web.pem"))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows, got:\n%s", out)
	}
	for _, col := range []string{"FILE", "SUBJECT", "ISSUER", "SERIAL", "NOT BEFORE", "NOT AFTER", "CA", "SANS", "SHA-256"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header lacks %s: %s", col, lines[0])
		}
	}
	// Aligned: every row's SHA-256 starts in the header's SHA-256 column.
	col := strings.Index(lines[0], "SHA-256")
	for _, l := range lines[1:] {
		if len(l) < col+95 || strings.Count(l[col:col+95], ":") != 31 {
			t.Errorf("row not aligned with the SHA-256 column at %d: %q", col, l)
		}
	}
	if !strings.Contains(lines[2], "DNS:web.test,IP:127.0.0.1") || !strings.Contains(lines[2], "false") || !strings.Contains(lines[1], "true") {
		t.Errorf("rows lack SANs or CA flags:\n%s", out)
	}

	var rows []certInfo
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "-o", "json", e.path("web.pem"), e.path("two-cas.pem"))), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("json rows = %d, want 3", len(rows))
	}
	web := rows[0]
	certs, err := trust.ParseCertificates(mustRead(t, e.path("web.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if web.SHA256 != trust.Fingerprint(certs[0]) || web.IsCA || web.Subject != "CN=web" || web.Issuer != "CN=old CA" ||
		len(web.DNSNames) != 1 || len(web.IPAddresses) != 1 || web.IPAddresses[0] != "127.0.0.1" || web.KeyAlgorithm != "ECDSA-P256" {
		t.Errorf("web row = %+v", web)
	}
	if !web.NotAfter.Equal(certs[0].NotAfter) || rows[1].Index != 0 || rows[2].Index != 1 || !rows[2].IsCA || rows[1].KeyAlgorithm != "Ed25519" {
		t.Errorf("rows = %+v", rows)
	}
}

func TestBundleHappyPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out, errOut, code := execute(t, "bundle", "--active", e.path("new-ca.pem"), "--previous", e.path("old-ca.pem"),
		"--previous", e.path("expired-ca.pem"), "--in-use", e.path("web.pem"), "--now", envNow)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got, err := trust.ParseCertificates([]byte(out))
	if err != nil {
		t.Fatalf("stdout is not a PEM bundle: %v", err)
	}
	want := []string{"new CA", "old CA"}
	if len(got) != 2 || got[0].Subject.CommonName != want[0] || got[1].Subject.CommonName != want[1] {
		t.Fatalf("bundle = %v, want %v", cns(got), want)
	}
	if !strings.Contains(errOut, "bundle: 2 of 3 CAs (max 2)") || !strings.Contains(errOut, "dropped (expired)") {
		t.Errorf("summary lacks counts or the drop reason:\n%s", errOut)
	}
	// The bundle verifies the in-use leaf: the point of keeping the old CA.
	pool := x509.NewCertPool()
	for _, c := range got {
		pool.AddCert(c)
	}
	leaf, err := trust.ParseCertificates(mustRead(t, e.path("web.pem")))
	if err != nil {
		t.Fatal(err)
	}
	now, _ := time.Parse(time.RFC3339, envNow)
	if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now}); err != nil {
		t.Errorf("in-use leaf does not verify against the bundle: %v", err)
	}
}

// TestBadInputs runs each bad-input class through the CLI: exit 1, nothing
// on stdout, an error naming the file (or flag) and the problem class, and
// no key material.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chunks := keyChunks(t, e.dir)
	p := e.path
	issue := func(caCert, caKey string, extra ...string) []string {
		return append([]string{"issue", "--ca-cert", p(caCert), "--ca-key", p(caKey), "--cn", "x", "--dns", "x.test",
			"--out-cert", p("out.pem"), "--out-key", p("out.key"), "--now", envNow}, extra...)
	}
	bundle := func(extra ...string) []string {
		return append([]string{"bundle", "--now", envNow}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"inspect empty file", []string{"inspect", p("empty.pem")}, []string{`file "` + p("empty.pem") + `"`, "empty input"}},
		{"inspect garbage", []string{"inspect", p("garbage.pem")}, []string{`file "` + p("garbage.pem") + `"`, "not PEM"}},
		{"inspect trailing garbage", []string{"inspect", p("trailing.pem")}, []string{`file "` + p("trailing.pem") + `"`, "trailing data after the last PEM block"}},
		{"inspect a key file", []string{"inspect", p("old-ca.key")}, []string{`file "` + p("old-ca.key") + `"`, "no CERTIFICATE block"}},
		{"inspect missing file", []string{"inspect", p("missing.pem")}, []string{`file "` + p("missing.pem") + `"`, "no such file"}},
		{"inspect names every bad file", []string{"inspect", p("empty.pem"), p("old-ca.pem"), p("garbage.pem")}, []string{"empty.pem", "empty input", "garbage.pem", "not PEM"}},
		{"inspect unknown output", []string{"inspect", "-o", "yaml", p("old-ca.pem")}, []string{"flag --output", "yaml"}},
		{"bundle non-CA active", bundle("--active", p("web.pem")), []string{`--active "` + p("web.pem") + `"`, "not a CA certificate", "BasicConstraints CA:TRUE"}},
		{"bundle expired active", bundle("--active", p("expired-ca.pem")), []string{`--active "` + p("expired-ca.pem") + `"`, "certificate expired"}},
		{"bundle active file with two certificates", bundle("--active", p("two-cas.pem")), []string{`--active "` + p("two-cas.pem") + `"`, "want exactly 1"}},
		{"bundle empty previous", bundle("--active", p("new-ca.pem"), "--previous", p("empty.pem")), []string{`--previous "` + p("empty.pem") + `"`, "empty input"}},
		{"bundle garbage previous", bundle("--active", p("new-ca.pem"), "--previous", p("garbage.pem")), []string{`--previous "` + p("garbage.pem") + `"`, "not PEM"}},
		{"bundle non-CA previous", bundle("--active", p("new-ca.pem"), "--previous", p("web.pem")), []string{`--previous "` + p("web.pem") + `"`, "not a CA certificate"}},
		{"bundle trailing garbage in-use", bundle("--active", p("new-ca.pem"), "--in-use", p("trailing.pem")), []string{`--in-use "` + p("trailing.pem") + `"`, "trailing data"}},
		{"bundle cap would drop signer", bundle("--active", p("new-ca.pem"), "--previous", p("old-ca.pem"), "--in-use", p("web.pem"), "--max", "1"),
			[]string{"bundle would drop a CA that signs a leaf in use", `leaf "CN=web"`, `CA "CN=old CA"`, "sha256 ", `--in-use "` + p("web.pem") + `"`, `--previous "` + p("old-ca.pem") + `"`}},
		{"bundle in-use leaf of no input CA", bundle("--active", p("new-ca.pem"), "--in-use", p("web.pem")), []string{"no input CA signs a leaf in use", `leaf "CN=web"`}},
		{"bundle bad --now", []string{"bundle", "--active", p("new-ca.pem"), "--now", "yesterday"}, []string{"flag --now", "RFC 3339"}},
		{"bundle --max 0", bundle("--active", p("new-ca.pem"), "--max", "0"), []string{"flag --max"}},
		{"bundle without --active", []string{"bundle"}, []string{"active"}},
		{"issue key mismatch", issue("old-ca.pem", "new-ca.key"), []string{`--ca-cert "` + p("old-ca.pem") + `"`, `--ca-key "` + p("new-ca.key") + `"`, "private key does not match certificate", `"CN=old CA"`}},
		{"issue expired CA", issue("expired-ca.pem", "expired-ca.key"), []string{"expired-ca.pem", "certificate expired"}},
		{"issue non-CA issuer", issue("web.pem", "web.key"), []string{"web.pem", "not a CA certificate"}},
		{"issue key with trailing garbage", issue("old-ca.pem", "key-trailing.key"), []string{`--ca-key "` + p("key-trailing.key") + `"`, "trailing data"}},
		{"issue truncated key", issue("old-ca.pem", "key-truncated.key"), []string{`--ca-key "` + p("key-truncated.key") + `"`, "malformed PEM block"}},
		{"issue certificate as key", issue("old-ca.pem", "old-ca.pem"), []string{`--ca-key "` + p("old-ca.pem") + `"`, "no private key block"}},
		{"issue garbage CA certificate", issue("garbage.pem", "old-ca.key"), []string{`--ca-cert "` + p("garbage.pem") + `"`, "not PEM"}},
		{"issue unknown usage", issue("old-ca.pem", "old-ca.key", "--usage", "peer"), []string{"flag --usage", `"peer"`}},
		{"issue bad IP", issue("old-ca.pem", "old-ca.key", "--ip", "300.1.1.1"), []string{"flag --ip", "300.1.1.1"}},
		{"issue server without SAN", []string{"issue", "--ca-cert", p("old-ca.pem"), "--ca-key", p("old-ca.key"), "--cn", "x", "--out-cert", p("o.pem"), "--out-key", p("o.key"), "--now", envNow},
			[]string{"flags --dns, --ip, --uri", "a server certificate needs at least one"}},
		{"issue empty --dns entry", issue("old-ca.pem", "old-ca.key", "--dns", ",y.test"), []string{"flag --dns", "entry 2 is empty"}},
		{"inspect /dev/zero", []string{"inspect", "/dev/zero"}, []string{`file "/dev/zero"`, "not a regular file or pipe"}},
		{"issue over existing files", issue("old-ca.pem", "old-ca.key", "--out-cert", p("web.pem"), "--out-key", p("web.key")), []string{`--out-cert "` + p("web.pem") + `"`, "file exists"}},
		{"new unknown algorithm", []string{"new", "--algorithm", "dsa", "--out-cert", p("n.pem"), "--out-key", p("n.key")}, []string{"flag --algorithm", "unsupported key type", `"dsa"`, "ecdsa-p256 (ECDSAP256)"}},
		{"new same path twice", []string{"new", "--out-cert", p("same"), "--out-key", p("same")}, []string{"same file as --out-cert"}},
		{"new over existing key", []string{"new", "--out-cert", p("fresh.pem"), "--out-key", p("old-ca.key")}, []string{`--out-key "` + p("old-ca.key") + `"`, "file exists"}},
		{"new without --out-key", []string{"new", "--out-cert", p("n.pem")}, []string{"out-key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, e.dir)
			out, errOut, code := execute(t, tt.args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, out, errOut)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			assertNoKeyMaterial(t, errOut, chunks)
			if strings.Contains(errOut, "Options.") {
				t.Errorf("stderr shows a Go struct field:\n%s", errOut)
			}
			if after := snapshot(t, e.dir); after != before {
				t.Errorf("a failed command changed the directory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestNewAndIssueFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, perm := range map[string]os.FileMode{"old-ca.pem": 0o644, "old-ca.key": 0o600, "web.pem": 0o644, "web.key": 0o600} {
		fi, err := os.Stat(e.path(name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), perm)
		}
	}
	ca, err := trust.ParseCA(mustRead(t, e.path("old-ca.pem")), mustRead(t, e.path("old-ca.key")), mustTime(t, envNow))
	if err != nil {
		t.Fatal(err)
	}
	if ca.Cert.Subject.CommonName != "old CA" || !ca.Cert.NotBefore.Equal(mustTime(t, "2026-01-01T00:00:00Z").Add(-trust.ClockSkew)) {
		t.Errorf("CA %v notBefore %v", ca.Cert.Subject, ca.Cert.NotBefore)
	}
	out := mustRun(t, "issue", "--ca-cert", e.path("new-ca.pem"), "--ca-key", e.path("new-ca.key"), "--cn", "probe", "--usage", "client",
		"--chain", "--validity", "1h", "--now", envNow, "--out-cert", e.path("probe.pem"), "--out-key", e.path("probe.key"))
	assertNoKeyMaterial(t, out, keyChunks(t, e.dir))
	chain, err := trust.ParseCertificates(mustRead(t, e.path("probe.pem")))
	if err != nil || len(chain) != 2 || chain[1].Subject.CommonName != "new CA" {
		t.Fatalf("--chain output: %v, %v", cns(chain), err)
	}
	if len(chain[0].ExtKeyUsage) != 1 || chain[0].ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || !chain[0].NotAfter.Equal(mustTime(t, envNow).Add(time.Hour)) {
		t.Errorf("probe leaf EKU %v notAfter %v", chain[0].ExtKeyUsage, chain[0].NotAfter)
	}
	key, err := trust.ParsePrivateKey(mustRead(t, e.path("probe.key")))
	if err != nil || !chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Errorf("probe key does not match its certificate: %v", err)
	}
	// --force replaces both files.
	before := mustRead(t, e.path("probe.pem"))
	mustRun(t, "issue", "--ca-cert", e.path("new-ca.pem"), "--ca-key", e.path("new-ca.key"), "--cn", "probe", "--usage", "client",
		"--force", "--now", envNow, "--out-cert", e.path("probe.pem"), "--out-key", e.path("probe.key"))
	if string(before) == string(mustRead(t, e.path("probe.pem"))) {
		t.Error("--force did not replace the certificate")
	}
}

func TestHelpTeaches(t *testing.T) {
	t.Parallel()
	out := mustRun(t, "--help")
	for _, w := range []string{"trust bundle", "overlap", "#4891", "make before break", "Examples:"} {
		if !strings.Contains(out, w) {
			t.Errorf("ca --help lacks %q", w)
		}
	}
}

// snapshot lists the names, sizes and modes of the files in dir.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(e.Name() + ":" + fi.Mode().String() + ":" + time.Duration(fi.Size()).String() + " ")
	}
	return b.String()
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func cns(certs []*x509.Certificate) []string {
	var s []string
	for _, c := range certs {
		s = append(s, c.Subject.CommonName)
	}
	return s
}

// TestAlgorithmSpellings: the CLI accepts the CertificateAuthority API's
// algorithm names too (ECDSAP256 as well as ecdsa-p256).
func TestAlgorithmSpellings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, alg := range []string{"ECDSAP256", "Ed25519", "ecdsa-p256"} {
		_, errOut, code := execute(t, "new", "--algorithm", alg, "--out-cert", e.path(alg+".pem"), "--out-key", e.path(alg+".key"))
		if code != 0 {
			t.Fatalf("new --algorithm %s: exit %d: %s", alg, code, errOut)
		}
	}
}
