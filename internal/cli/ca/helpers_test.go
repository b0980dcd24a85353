package ca

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// execute runs `handover ca args...` in process the way root.Execute does
// (errors printed as "error: ...", exit code 1) and returns stdout, stderr
// and the exit code.
func execute(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCommand()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(&errOut, "error: %v\n", err)
		return out.String(), errOut.String(), 1
	}
	return out.String(), errOut.String(), 0
}

// mustRun executes and fails the test unless the exit code is 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := execute(t, args...)
	if code != 0 {
		t.Fatalf("ca %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// keyChunks returns 16-character runs of the base64 bodies of every *.key
// file in dir, to check that no output contains key material.
func keyChunks(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.key"))
	if err != nil {
		t.Fatal(err)
	}
	var chunks []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "-----") {
				body.WriteString(strings.TrimSpace(line))
			}
		}
		s := body.String()
		for i := 0; i+16 <= len(s); i += 8 {
			chunks = append(chunks, s[i:i+16])
		}
	}
	if len(chunks) == 0 {
		t.Fatalf("no key files in %s", dir)
	}
	return chunks
}

// assertNoKeyMaterial fails when s contains "PRIVATE KEY" or a key chunk.
func assertNoKeyMaterial(t *testing.T, s string, chunks []string) {
	t.Helper()
	if strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("output mentions PRIVATE KEY:\n%s", s)
	}
	for _, c := range chunks {
		if strings.Contains(s, c) {
			t.Errorf("output contains key bytes %q:\n%s", c, s)
			return
		}
	}
}
