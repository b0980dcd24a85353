package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// etcdBinary returns the etcd server binary: $HANDOVER_K8S_BIN/etcd when
// present, else the pinned module (go.mod's tool directive) built into a
// temporary dir.
func etcdBinary(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("HANDOVER_K8S_BIN"); d != "" {
		if p := filepath.Join(d, "etcd"); fileExists(p) {
			return p
		}
	}
	p := filepath.Join(t.TempDir(), "etcd")
	if out, err := exec.Command("go", "build", "-o", p, "go.etcd.io/etcd/server/v3").CombinedOutput(); err != nil {
		t.Fatalf("go build etcd: %v\n%s", err, out)
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestAbsDirs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, state, data string
		want              string // error substring; "" = ok
	}{
		{"separate", "/s/state", "/d/data", ""},
		{"no data dir", "/s/state", "", ""},
		{"data inside state", "/s/state", "/s/state/members", "flag --data-dir /s/state/members: is inside --state-dir /s/state"},
		{"data is state", "/s/state", "/s/state", "is inside --state-dir"},
		{"state inside data", "/d/data/state", "/d/data", ""},
		{"sibling with common prefix", "/s/state", "/s/state-data", ""},
		{"relative inside", "/s/state", "/s/state/../state/m", "is inside --state-dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, dd, err := absDirs(tc.state, tc.data)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !filepath.IsAbs(st) || (tc.data != "" && !filepath.IsAbs(dd)) {
					t.Fatalf("not absolute: %q %q", st, dd)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestHelpFollowedKeepsData migrates a cluster of etcd processes with
// relative --state-dir and --data-dir, then does what the help says about
// starting a new migration (and what users did: delete the state dir). The
// members must keep every key across a kill -9 and restart, and a new run
// over the lost state must refuse, changing nothing.
func TestHelpFollowedKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: real etcd processes")
	}
	etcdBin := etcdBinary(t)
	ctx := context.Background()
	srcProv := &etcdmig.Process{Binary: etcdBin, BaseDir: t.TempDir()}
	ms := processCluster(t, srcProv, 1)
	c := connectRetry(t, endpointsOf(ms))
	const keys = 50
	for i := range keys {
		if _, err := c.Client().Put(ctx, fmt.Sprintf("data/%04d", i), strings.Repeat("d", 256)); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	t.Chdir(work)
	urls, err := etcdmig.FreeLoopbackURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	tg := etcdmig.Target{Name: "t1", PeerURL: urls[0], ClientURL: urls[1]}
	tgtProv := &etcdmig.Process{Binary: etcdBin, BaseDir: filepath.Join(work, "data")}
	t.Cleanup(func() { _ = tgtProv.Stop(context.Background(), tg.Name) })
	base := []string{"--endpoints", strings.Join(endpointsOf(ms), ","), "--provisioner", "process", "--etcd-binary", etcdBin,
		"--to", tg.String(), "--probe-rate", "20", "--drain-delay", "200ms", "--state-dir", "state"}

	// The old default, data under the state dir, is gone: no --data-dir is
	// refused, and so is one inside the state dir.
	if _, _, err := runCLI(t, base...); err == nil || !strings.Contains(err.Error(), "flag --data-dir: required") {
		t.Fatalf("no --data-dir: %v", err)
	}
	if _, _, err := runCLI(t, append(base, "--data-dir", "state/members")...); err == nil || !strings.Contains(err.Error(), "is inside --state-dir") {
		t.Fatalf("--data-dir inside --state-dir: %v", err)
	}
	args := append(base, "--data-dir", "data")
	if out, errOut, err := runCLI(t, args...); err != nil {
		t.Fatalf("migrate: %v\n%s\n%s", err, out, errOut)
	}
	pid, ok := tgtProv.Running(tg.Name)
	if !ok {
		t.Fatal("target t1 not running after the migration")
	}
	cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := "--data-dir=" + filepath.Join(work, "data", "t1") + "\x00"; !bytes.Contains(cl, []byte(want)) {
		t.Fatalf("target runs with %q, want the absolute %q", bytes.ReplaceAll(cl, []byte{0}, []byte{' '}), want)
	}

	// What users did with the old help: delete the state dir.
	help, _, _ := runCLI(t, "--help")
	if strings.Contains(help, "Delete --state-dir") || strings.Contains(help, "--state-dir/members") {
		t.Fatalf("help still points member data at the state dir:\n%s", help)
	}
	if err := os.RemoveAll(filepath.Join(work, "state")); err != nil {
		t.Fatal(err)
	}
	tc := connectRetry(t, []string{tg.ClientURL})
	before := membership(t, tc)
	_, _, err = runCLI(t, args...)
	if !errors.Is(err, ErrLeftoverMembers) || !strings.Contains(err.Error(), `member "t1" is running`) {
		t.Fatalf("rerun over a deleted state dir: %v, want ErrLeftoverMembers naming t1 running", err)
	}
	t.Logf("refusal:\n%v", err)
	if after := membership(t, tc); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatalf("membership changed:\n%q\n%q", before, after)
	}

	// kill -9 and restart the member from its data dir: every key is there.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && processRunning(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := runCLI(t, args...); !errors.Is(err, ErrLeftoverMembers) || !strings.Contains(err.Error(), `member "t1" has data in`) {
		t.Fatalf("rerun with t1 stopped: %v, want ErrLeftoverMembers naming t1's data", err)
	}
	if err := tgtProv.Start(ctx, etcdmig.MemberSpec{Name: tg.Name, PeerURL: tg.PeerURL, ClientURL: tg.ClientURL,
		InitialCluster: "t1=" + tg.PeerURL, ClusterState: "existing"}); err != nil {
		t.Fatal(err)
	}
	tc2 := connectRetry(t, []string{tg.ClientURL})
	resp, err := tc2.Client().Get(ctx, "data/", clientWithPrefixCount()...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != keys {
		t.Fatalf("%d data keys after deleting the state dir and restarting, want %d", resp.Count, keys)
	}
}

func processRunning(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(st, ')')
	return i < 0 || i+2 >= len(st) || st[i+2] != 'Z'
}

// connectRetry connects to endpoints, retrying for up to 10 s while the
// members start.
func connectRetry(t *testing.T, endpoints []string) *etcdmig.Cluster {
	t.Helper()
	var err error
	for range 50 {
		var c *etcdmig.Cluster
		if c, err = etcdmig.Connect(context.Background(), endpoints, nil, nil); err == nil {
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}
