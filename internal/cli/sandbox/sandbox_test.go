package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultStateDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg state", map[string]string{"XDG_STATE_HOME": "/s", "HOME": "/h"}, "/s/handover/sandbox"},
		{"home", map[string]string{"HOME": "/h"}, "/h/.local/state/handover/sandbox"},
		{"nothing", map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := DefaultStateDir(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("DefaultStateDir = %q, want %q", got, tt.want)
			}
		})
	}
}

// Every refusal is clear and changes nothing on disk.
func TestCommandErrors(t *testing.T) {
	t.Parallel()
	emptyBin := t.TempDir()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"down when not up", []string{"down"}, []string{"sandbox is not up", "no state in"}},
		{"kubeconfig when not up", []string{"kubeconfig"}, []string{"sandbox is not up", "handover sandbox up"}},
		{"up without binaries", []string{"up", "--bin-dir", emptyBin}, []string{"kubernetes binaries missing", "kube-apiserver", "make k8s-binaries"}},
		{"up with zero nodes", []string{"up", "--bin-dir", emptyBin, "--nodes", "0"}, []string{"--nodes", "at least 1"}},
		{"unknown subcommand args", []string{"down", "extra"}, []string{"unknown command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state := filepath.Join(t.TempDir(), "state")
			cmd := NewCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append(tt.args, "--state-dir", state))
			err := cmd.ExecuteContext(context.Background())
			if err == nil {
				t.Fatalf("sandbox %v succeeded, want an error", tt.args)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, statErr := os.Stat(state); !os.IsNotExist(statErr) {
				t.Errorf("refused command created %s", state)
			}
		})
	}
}

// TestUpHelpNamesTheFlagValue: pflag turns a back-quoted word of a usage
// string into the value's name; the --bin-dir line must read
// "--bin-dir directory", not "--bin-dir make k8s-binaries".
func TestUpHelpNamesTheFlagValue(t *testing.T) {
	t.Parallel()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"up", "--help"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--bin-dir directory") || strings.Contains(out.String(), "--bin-dir make") {
		t.Fatalf("up --help:\n%s", out.String())
	}
}
