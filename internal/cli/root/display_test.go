package root

import (
	"bytes"
	"strings"
	"testing"
)

func TestDisplayName(t *testing.T) {
	t.Parallel()
	for argv0, want := range map[string]string{
		"handover":                        "handover",
		"/usr/local/bin/handover":         "handover",
		"bin/handover":                    "handover",
		"/usr/local/bin/kubectl-handover": "kubectl handover",
		`C:\bin\kubectl-handover.exe`:     "handover", // not a path on this OS: filepath.Base keeps it whole
		"kubectl-handover.exe":            "kubectl handover",
	} {
		if got := DisplayName(argv0); got != want {
			t.Errorf("DisplayName(%q) = %q, want %q", argv0, got, want)
		}
	}
}

// TestHelpAsKubectlPlugin: run as kubectl-handover, usage lines and
// examples say "kubectl handover".
func TestHelpAsKubectlPlugin(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := ExecuteAs(t.Context(), "kubectl handover", []string{"ca", "plan", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "handover ca plan") && !strings.Contains(line, "kubectl handover ca plan") {
			t.Errorf("help line names the bare binary: %q", line)
		}
	}
	if !strings.Contains(out.String(), "kubectl handover ca plan NAME") {
		t.Errorf("usage line lacks kubectl handover:\n%s", out.String())
	}
}
