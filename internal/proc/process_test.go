package proc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// A process group that ignores SIGTERM is killed with SIGKILL, its child
// included, and a second stop is a no-op.
func TestStopKillsGroup(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits the 10 s SIGTERM grace period")
	}
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child.pid")
	p, err := Start(Spec{Name: "stubborn", Path: "/bin/sh",
		Args: []string{"-c", `trap "" TERM; sleep 300 & echo $! > ` + childFile + `; wait`},
		Log:  filepath.Join(dir, "stubborn.log")})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	child := waitChild(t, childFile)
	if !Running(p) || !Running(child) {
		t.Fatalf("processes not running after start: parent %v child %v", Running(p), Running(child))
	}
	if err := StopAll(context.Background(), clock.RealClock{}, []Handle{p}); err != nil {
		t.Fatalf("StopAll: %v", err)
	}
	if Running(p) {
		t.Errorf("parent pid %d still running", p.PID)
	}
	// The child got the group's SIGKILL too; it may take a moment to die.
	deadline := time.Now().Add(5 * time.Second)
	for Running(child) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if Running(child) {
		t.Errorf("child pid %d of the process group still running 5 s after the group's SIGKILL", child.PID)
	}
	if err := StopAll(context.Background(), clock.RealClock{}, []Handle{p}); err != nil {
		t.Errorf("second StopAll: %v", err)
	}
}

// A recorded PID whose start time differs (a reused PID) is not ours: it is
// not Running and StopAll leaves it alone.
func TestStopIgnoresReusedPID(t *testing.T) {
	t.Parallel()
	self := Handle{Name: "self", PID: os.Getpid()}
	st, err := readStat(self.PID)
	if err != nil {
		t.Fatal(err)
	}
	self.StartTime = st.startTime
	if !Running(self) {
		t.Fatal("own process not Running")
	}
	stranger := self
	stranger.StartTime++
	if Running(stranger) {
		t.Fatal("process with another start time reported Running")
	}
	if err := StopAll(context.Background(), clock.RealClock{}, []Handle{stranger}); err != nil {
		t.Fatalf("StopAll: %v", err)
	}
	if !Running(self) {
		t.Fatal("StopAll signalled a process whose start time did not match")
	}
}

func TestStartMissingBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Start(Spec{Name: "ghost", Path: filepath.Join(dir, "nope"), Log: filepath.Join(dir, "ghost.log")})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start of a missing binary = %v, want ErrNotExist", err)
	}
}

func waitChild(t *testing.T, path string) Handle {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(data), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			st, err := readStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			return Handle{Name: "child", PID: pid, StartTime: st.startTime}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("child pid never written")
	return Handle{}
}
