package etcd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Target
		wantErr string
	}{
		{in: "t1=http://127.0.0.1:2380,http://127.0.0.1:2379", want: Target{Name: "t1", PeerURL: "http://127.0.0.1:2380", ClientURL: "http://127.0.0.1:2379"}},
		{in: " t2 = https://10.0.0.5:2380 , https://10.0.0.5:2379 ", want: Target{Name: "t2", PeerURL: "https://10.0.0.5:2380", ClientURL: "https://10.0.0.5:2379"}},
		{in: "t1", wantErr: "want name=peerURL,clientURL"},
		{in: "t1=http://127.0.0.1:2380", wantErr: "want name=peerURL,clientURL"},
		{in: "=http://127.0.0.1:2380,http://127.0.0.1:2379", wantErr: `target name ""`},
		{in: "t1=127.0.0.1:2380,http://127.0.0.1:2379", wantErr: `target "t1" peer URL`},
		{in: "t1=http://127.0.0.1,http://127.0.0.1:2379", wantErr: "want scheme://host:port"},
		{in: "t1=http://127.0.0.1:2380,unix://x:1", wantErr: "scheme must be http or https"},
		{in: "t1=http://127.0.0.1:2380,http://127.0.0.1:2380/", wantErr: "peer URL and client URL are both"},
		{in: "t1=http://127.0.0.1:2380/x,http://127.0.0.1:2379", wantErr: "must not have a path"},
		{in: "t1=http://127.0.0.1:99999,http://127.0.0.1:2379", wantErr: `target "t1" peer URL "http://127.0.0.1:99999": port "99999" is not a number from 1 to 65535`},
		{in: "t1=http://127.0.0.1:2380,http://127.0.0.1:0", wantErr: `client URL "http://127.0.0.1:0": port "0" is not`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTarget(tc.in)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidTarget containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if back, err := ParseTarget(got.String()); err != nil || back != got {
				t.Fatalf("String() does not round-trip: %q", got.String())
			}
		})
	}
}

func TestInitialCluster(t *testing.T) {
	t.Parallel()
	tg := Target{Name: "t1", PeerURL: "http://127.0.0.1:3380", ClientURL: "http://127.0.0.1:3379"}
	tests := []struct {
		name    string
		members []Member
		want    string
		wantErr bool
	}{
		{"learner unnamed until started", []Member{
			{ID: 1, Name: "s1", PeerURLs: []string{"http://127.0.0.1:2380"}},
			{ID: 2, PeerURLs: []string{"http://127.0.0.1:3380"}, IsLearner: true},
		}, "s1=http://127.0.0.1:2380,t1=http://127.0.0.1:3380", false},
		{"member with two peer URLs", []Member{
			{ID: 1, Name: "s1", PeerURLs: []string{"http://127.0.0.1:2380", "http://10.0.0.1:2380"}},
			{ID: 2, Name: "t1", PeerURLs: []string{"http://127.0.0.1:3380"}},
		}, "s1=http://127.0.0.1:2380,s1=http://10.0.0.1:2380,t1=http://127.0.0.1:3380", false},
		{"another learner mid-join", []Member{
			{ID: 1, Name: "s1", PeerURLs: []string{"http://127.0.0.1:2380"}},
			{ID: 3, PeerURLs: []string{"http://127.0.0.1:4380"}, IsLearner: true},
		}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := InitialCluster(tc.members, tg)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("InitialCluster = %q, %v; want %q (err %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestEtcdFlags(t *testing.T) {
	t.Parallel()
	spec := MemberSpec{Name: "t1", PeerURL: "https://10.0.0.5:2380", ClientURL: "https://10.0.0.5:2379",
		InitialCluster: "s1=https://10.0.0.1:2380,t1=https://10.0.0.5:2380",
		TLS:            &MemberTLS{CertFile: "/tls/m.crt", KeyFile: "/tls/m.key", TrustedCAFile: "/tls/ca.crt", ClientCertAuth: true}}
	want := strings.Join([]string{
		"--name=t1", "--data-dir=/var/lib/etcd/t1",
		"--listen-peer-urls=https://10.0.0.5:2380", "--initial-advertise-peer-urls=https://10.0.0.5:2380",
		"--listen-client-urls=https://10.0.0.5:2379", "--advertise-client-urls=https://10.0.0.5:2379",
		"--initial-cluster=s1=https://10.0.0.1:2380,t1=https://10.0.0.5:2380", "--initial-cluster-state=existing",
		"--cert-file=/tls/m.crt", "--key-file=/tls/m.key", "--trusted-ca-file=/tls/ca.crt", "--client-cert-auth",
		"--peer-cert-file=/tls/m.crt", "--peer-key-file=/tls/m.key", "--peer-trusted-ca-file=/tls/ca.crt", "--peer-client-cert-auth",
	}, " ")
	if got := strings.Join(EtcdFlags(spec, "/var/lib/etcd/t1/"), " "); got != want {
		t.Fatalf("flags:\n%s\nwant\n%s", got, want)
	}
	plain := EtcdFlags(MemberSpec{Name: "s1", PeerURL: "http://a:1", ClientURL: "http://a:2", InitialCluster: "s1=http://a:1",
		ClusterState: "new", ClusterToken: "tok"}, "d")
	if got := strings.Join(plain[7:], " "); got != "--initial-cluster-state=new --initial-cluster-token=tok" {
		t.Fatalf("bootstrap flags: %s", got)
	}
	behind := EtcdFlags(MemberSpec{Name: "t1", PeerURL: "http://proxy:1", ListenPeerURL: "http://real:1", ClientURL: "http://a:2"}, "d")
	if got := strings.Join(behind[2:4], " "); got != "--listen-peer-urls=http://real:1 --initial-advertise-peer-urls=http://proxy:1" {
		t.Fatalf("member behind a proxy: %s", got)
	}
}

// TestExecProvisioner runs a real shell script as the exec provisioner and
// checks what it was given.
func TestExecProvisioner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "member.sh")
	record := filepath.Join(dir, "calls")
	body := "#!/bin/sh\nprintf '%s %s %s %s|%s\\n' \"$HANDOVER_ACTION\" \"$HANDOVER_MEMBER_NAME\" \"$HANDOVER_PEER_URL\" \"$HANDOVER_DATA_DIR\" \"$HANDOVER_ETCD_FLAGS\" >> " + record + "\n" +
		"[ \"$HANDOVER_MEMBER_NAME\" = bad ] && { echo 'no capacity' >&2; exit 3; }\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Exec{Command: []string{script}, DataDir: "/data", TargetVersion: "3.6.5"}
	ctx := context.Background()
	spec := MemberSpec{Name: "t1", PeerURL: "http://10.0.0.5:2380", ClientURL: "http://10.0.0.5:2379", InitialCluster: "s1=http://10.0.0.1:2380,t1=http://10.0.0.5:2380"}
	if err := p.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	err := p.Start(ctx, MemberSpec{Name: "bad", PeerURL: "http://x:1", ClientURL: "http://x:2"})
	if err == nil || !strings.Contains(err.Error(), "no capacity") || !strings.Contains(err.Error(), `member "bad"`) {
		t.Fatalf("failing command: %v", err)
	}
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("calls:\n%s", b)
	}
	if !strings.HasPrefix(lines[0], "start t1 http://10.0.0.5:2380 /data/t1|--name=t1 --data-dir=/data/t1 ") ||
		!strings.Contains(lines[0], "--initial-cluster-state=existing") {
		t.Errorf("start call: %s", lines[0])
	}
	if !strings.HasPrefix(lines[1], "stop t1  /data/t1|") {
		t.Errorf("stop call: %s", lines[1])
	}
	if v, _ := p.Version(ctx); v != "3.6.5" {
		t.Errorf("version %q", v)
	}
	if err := (&Exec{}).Start(ctx, spec); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty command: %v", err)
	}
}

func TestProcessVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "etcd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'etcd Version: 3.6.5'\necho 'Git SHA: x'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if v, err := (&Process{Binary: bin}).Version(context.Background()); err != nil || v != "3.6.5" {
		t.Fatalf("Version = %q, %v", v, err)
	}
	bad := filepath.Join(dir, "not-etcd")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Process{Binary: bad}).Version(context.Background()); err == nil || !strings.Contains(err.Error(), "no \"etcd Version:\" line") {
		t.Fatalf("non-etcd binary: %v", err)
	}
}

func TestFreeLoopbackURLs(t *testing.T) {
	t.Parallel()
	us, err := FreeLoopbackURLs(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	low := ephemeralLow()
	for _, u := range us {
		if seen[u] {
			t.Fatalf("duplicate %s in %v", u, us)
		}
		seen[u] = true
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("url %s", u)
		}
		if low > 11000 {
			port, _ := strconv.Atoi(strings.TrimPrefix(u, "http://127.0.0.1:"))
			if port < 10000 || port >= low {
				t.Errorf("port %d outside [10000, %d)", port, low)
			}
		}
	}
}
