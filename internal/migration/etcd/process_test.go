package etcd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/proc"
)

// TestProcessProvisioner starts a real etcd binary (built from go.mod's
// pinned etcd) as a one-member cluster: Start is idempotent, the member
// answers, Stop ends the process and deletes its data.
func TestProcessProvisioner(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds the etcd binary")
	}
	bin := filepath.Join(t.TempDir(), "etcd")
	if out, err := exec.Command("go", "build", "-o", bin, "go.etcd.io/etcd/server/v3").CombinedOutput(); err != nil {
		t.Fatalf("build etcd: %v\n%s", err, out)
	}
	ctx := context.Background()
	p := &Process{Binary: bin, BaseDir: t.TempDir()}
	if v, err := p.Version(ctx); err != nil || !strings.HasPrefix(v, "3.6.") {
		t.Fatalf("Version = %q, %v", v, err)
	}
	peer, _ := FreeLoopbackURL()
	client, _ := FreeLoopbackURL()
	spec := MemberSpec{Name: "p1", PeerURL: peer, ClientURL: client, InitialCluster: "p1=" + peer, ClusterState: "new", ClusterToken: "proc"}
	t.Cleanup(func() { _ = p.Stop(context.Background(), "p1") })
	if err := p.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	pid, ok := p.Running("p1")
	if !ok {
		t.Fatal("not running after Start")
	}
	h, err := proc.Identify(pid)
	if err != nil {
		t.Fatal(err)
	}
	startTime := h.StartTime
	if err := p.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if pid2, _ := p.Running("p1"); pid2 != pid {
		t.Fatalf("second Start started another process (%d → %d)", pid, pid2)
	}
	var c *Cluster
	for range 50 {
		if c, err = Connect(ctx, []string{client}, nil, nil); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if applied, db, err := p.Progress(ctx, "p1"); err != nil || applied == 0 || db == 0 {
		t.Fatalf("Progress = %d, %d, %v", applied, db, err)
	}
	if err := p.Stop(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Running("p1"); ok || proc.Running(proc.Handle{PID: pid, StartTime: startTime}) {
		t.Fatal("still running after Stop")
	}
	if _, err := os.Stat(filepath.Join(p.BaseDir, "p1")); !os.IsNotExist(err) {
		t.Fatalf("data dir left behind: %v", err)
	}
	if err := p.Stop(ctx, "p1"); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// A member that cannot start (its peer port is taken by the first) reports its log.
	if err := p.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	clash := spec
	clash.Name = "p2"
	t.Cleanup(func() { _ = p.Stop(context.Background(), "p2") })
	err = p.Start(ctx, clash)
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Fatalf("clashing member: %v", err)
	}
}

// A SIGKILL of the CLI between starting a member's process and writing its
// pid file leaves an orphan that holds the member's ports. Start must adopt
// it (pid file rewritten) instead of launching a second process that cannot
// bind, and Stop must then end it. The orphan here is a shell whose argv
// carries the member's flags, as the real etcd's would.
func TestProcessAdoptsAnOrphanWithoutPidFile(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	p := &Process{BaseDir: base, Binary: "/nonexistent/etcd"} // a launch would fail
	dataDir := filepath.Join(base, "m1")
	orphan := exec.Command("sh", "-c", "sleep 60; true", "etcd", "--name=m1", "--data-dir="+dataDir)
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = orphan.Wait(); close(done) }()
	t.Cleanup(func() { _ = orphan.Process.Kill(); <-done })
	// The setup is done when /proc shows the orphan's flags (a loaded machine
	// may show them a moment after Start returns); the test is what follows.
	cmdline := func() string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", orphan.Process.Pid))
		return strings.ReplaceAll(string(b), "\x00", " ")
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(cmdline(), "--data-dir="+dataDir); {
		if time.Now().After(deadline) {
			t.Fatalf("orphan's command line never showed its flags: %q", cmdline())
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := p.Start(t.Context(), MemberSpec{Name: "m1", PeerURL: "http://127.0.0.1:1", ClientURL: "http://127.0.0.1:2"}); err != nil {
		t.Fatalf("Start with an orphan running (cmdline %q): %v (it launched instead of adopting)", cmdline(), err)
	}
	if pid, ok := p.Running("m1"); !ok || pid != orphan.Process.Pid {
		t.Fatalf("Running = %d, %v; want the orphan's pid %d", pid, ok, orphan.Process.Pid)
	}
	if _, ok := p.Running("m2"); ok {
		t.Fatal("Running(m2) adopted m1's process")
	}
	if err := p.Stop(t.Context(), "m1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not end the adopted orphan")
	}
}
