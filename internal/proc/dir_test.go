package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Dir.Start is idempotent by identity, Stop ends the process and removes
// the pid file, and a second Stop is a no-op.
func TestDirStartStop(t *testing.T) {
	t.Parallel()
	d := Dir{Base: t.TempDir(), StartGrace: 100 * time.Millisecond}
	ctx := context.Background()
	args := []string{"-c", "sleep 60", "sh", "--name=a"}
	h, started, err := d.Start(ctx, "a", "/bin/sh", args, "--name=a")
	if err != nil || !started {
		t.Fatalf("Start = %v, %v", started, err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background(), "a", time.Second, "--name=a") })
	h2, started, err := d.Start(ctx, "a", "/bin/sh", args, "--name=a")
	if err != nil || started || h2.PID != h.PID {
		t.Fatalf("second Start = pid %d started %v err %v; want pid %d, not started", h2.PID, started, err, h.PID)
	}
	if _, ok := d.Alive("b", "--name=b"); ok {
		t.Fatal("Alive(b) found a's process")
	}
	if err := d.Stop(ctx, "a", time.Second, "--name=a"); err != nil {
		t.Fatal(err)
	}
	if Running(h) {
		t.Fatal("still running after Stop")
	}
	if _, err := os.Stat(d.PidPath("a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file left behind: %v", err)
	}
	if err := d.Stop(ctx, "a", time.Second, "--name=a"); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

// A process that exits during the grace period is reported with its log.
func TestDirStartEarlyExit(t *testing.T) {
	t.Parallel()
	d := Dir{Base: t.TempDir(), StartGrace: 2 * time.Second}
	_, _, err := d.Start(context.Background(), "x", "/bin/sh", []string{"-c", "echo boom-marker; exit 3"})
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "boom-marker") {
		t.Fatalf("Start = %v, want ErrExited with the log tail", err)
	}
}

// An orphan without a pid file (killed between start and pid file) is
// adopted by identity, and a pid file naming a process without the
// identity is not trusted.
func TestDirAdoptsOrphan(t *testing.T) {
	t.Parallel()
	d := Dir{Base: t.TempDir()}
	orphan := exec.Command("sh", "-c", "sleep 60; true", "x", "--name=o1", "--data-dir="+d.Base+"/o1")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = orphan.Wait(); close(done) }()
	t.Cleanup(func() { _ = orphan.Process.Kill(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !HasArgs(Cmdline(orphan.Process.Pid), "--name=o1"); {
		if time.Now().After(deadline) {
			t.Fatal("orphan's command line never showed its flags")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A stale pid file naming this test process must not be trusted.
	if err := WriteFileAtomic(d.PidPath("o1"), []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		t.Fatal(err)
	}
	h, ok := d.Alive("o1", "--name=o1", "--data-dir="+d.Base+"/o1")
	if !ok || h.PID != orphan.Process.Pid {
		t.Fatalf("Alive = %d, %v; want the orphan %d", h.PID, ok, orphan.Process.Pid)
	}
	if err := d.Stop(context.Background(), "o1", time.Second, "--name=o1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not end the adopted orphan")
	}
}
