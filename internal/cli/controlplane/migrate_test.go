package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/utils/clock"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

func sources(t *testing.T) []etcdmig.Target {
	t.Helper()
	emb := &etcdmig.Embedded{BaseDir: t.TempDir()}
	ms, err := emb.StartCluster(context.Background(), "cli-cp", []string{"s1", "s2", "s3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	return ms
}

func baseArgs(ms []etcdmig.Target, state string) []string {
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.ClientURL)
	}
	return []string{"--endpoints", strings.Join(eps, ","),
		"--to", "t1=http://127.0.0.1:23801,http://127.0.0.1:23791",
		"--to", "t2=http://127.0.0.1:23802,http://127.0.0.1:23792",
		"--to", "t3=http://127.0.0.1:23803,http://127.0.0.1:23793",
		"--name", "api.example.test", "--port", "6443", "--source-addr", "127.0.0.1", "--target-addr", "127.0.0.2",
		"--cacert", "ca.pem", "--cert", "admin.pem", "--key", "admin-key.pem",
		"--apiserver-cert", "apiserver.pem", "--apiserver-key", "apiserver-key.pem", "--client-ca", "ca.pem",
		"--sa-key", "sa.key", "--sa-pub", "sa.pub", "--dns-get", "dns-get", "--dns-set", "dns-set",
		"--etcd-provisioner", "embedded", "--state-dir", state}
}

func runCLI(args ...string) (string, error) {
	cmd := newMigrateCommand(clock.RealClock{})
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestPlanGolden: --plan prints the membership sequence, the site advice
// and every step with its gate, and creates no state dir.
func TestPlanGolden(t *testing.T) {
	ms := sources(t)
	state := filepath.Join(t.TempDir(), "state")
	out, err := runCLI(append(baseArgs(ms, state), "--plan", "--site-rtt", "50ms", "--write-hold-listen", "127.0.0.1:0")...)
	if err != nil {
		t.Fatalf("--plan: %v\n%s", err, out)
	}
	for _, m := range ms {
		out = strings.ReplaceAll(out, m.ClientURL, "<client-"+m.Name+">")
	}
	golden := filepath.Join("testdata", "plan.golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("--plan output differs from %s (UPDATE_GOLDEN=1 to rewrite):\n%s", golden, out)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("--plan created the state dir (%v)", err)
	}
}

// Bad input is refused naming the flag, and nothing is written; a site RTT
// above the bound is refused by --plan with the reason (GEP-0039).
func TestBadInput(t *testing.T) {
	ms := sources(t)
	for _, tc := range []struct {
		name   string
		modify func([]string) []string
		want   string
	}{
		{"no name", func(a []string) []string { return set(a, "--name", "") }, "flag --name: required"},
		{"bad source addr", func(a []string) []string { return set(a, "--source-addr", "nope") }, "flag --source-addr"},
		{"same addresses", func(a []string) []string { return set(a, "--target-addr", "127.0.0.1") }, "distinct names and addresses"},
		{"unknown apiserver provisioner", func(a []string) []string { return append(a, "--apiserver-provisioner", "k8s") }, `flag --apiserver-provisioner: unknown provisioner "k8s"`},
		{"far sites", func(a []string) []string { return append(a, "--plan", "--site-rtt", "250ms") }, "RTT between the sites 250ms is above 180ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			_, err := runCLI(tc.modify(baseArgs(ms, state))...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Errorf("state dir created (%v)", err)
			}
		})
	}
}

func set(args []string, flag, v string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag {
			out[i+1] = v
			return out
		}
	}
	panic(fmt.Sprintf("no flag %s", flag))
}
