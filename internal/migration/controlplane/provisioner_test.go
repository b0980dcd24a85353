package controlplane

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Exec passes the apiserver in HANDOVER_* variables and reports a failing
// command with its stderr.
func TestExecProvisioner(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "env")
	e := &Exec{Command: []string{"sh", "-c", `echo "$HANDOVER_ACTION $HANDOVER_APISERVER_NAME $HANDOVER_APISERVER_URL $HANDOVER_ETCD_SERVERS" >> ` + out}}
	spec := APIServerSpec{Name: "target", Addr: netip.MustParseAddr("127.0.0.2"), Port: 6443, EtcdServers: []string{"http://a", "http://b"}}
	ctx := context.Background()
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	want := "start target https://127.0.0.2:6443 http://a,http://b\nstop target https://127.0.0.2:6443 http://a,http://b\n"
	if string(b) != want {
		t.Fatalf("command saw %q, want %q", b, want)
	}
	bad := &Exec{Command: []string{"sh", "-c", "echo no-such-host >&2; exit 2"}}
	if err := bad.Start(ctx, spec); err == nil || !strings.Contains(err.Error(), "no-such-host") {
		t.Fatalf("failing command: %v", err)
	}
	if err := (&Exec{}).Start(ctx, spec); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no command: %v", err)
	}
}

// A spec with a bad field is refused naming it, before anything starts.
func TestSpecValidate(t *testing.T) {
	t.Parallel()
	good := APIServerSpec{Name: "s", Addr: netip.MustParseAddr("127.0.0.1"), Port: 6443, EtcdServers: []string{"http://a"},
		CertFile: "c", KeyFile: "k", ClientCAFile: "ca", ServiceAccountKeyFile: "sk", ServiceAccountPubFile: "sp"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*APIServerSpec)
		want string
	}{
		{func(s *APIServerSpec) { s.Port = 0 }, "port 0"},
		{func(s *APIServerSpec) { s.EtcdServers = nil }, "etcdServers"},
		{func(s *APIServerSpec) { s.GoawayChance = 0.05 }, "goawayChance"},
		{func(s *APIServerSpec) { s.Addr = netip.Addr{} }, "addr"},
	} {
		s := good
		tc.mod(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want ErrInvalidConfig naming %s", err, tc.want)
		}
	}
}
