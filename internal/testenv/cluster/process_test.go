package cluster

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
func TestStopProcessesKillsGroup(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits the 10 s SIGTERM grace period")
	}
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child.pid")
	p, err := startProcess("stubborn", "/bin/sh",
		[]string{"-c", `trap "" TERM; sleep 300 & echo $! > ` + childFile + `; wait`},
		filepath.Join(dir, "stubborn.log"), false)
	if err != nil {
		t.Fatalf("startProcess: %v", err)
	}
	child := waitChild(t, childFile)
	if !Running(p) || !Running(child) {
		t.Fatalf("processes not running after start: parent %v child %v", Running(p), Running(child))
	}
	if err := StopProcesses(context.Background(), clock.RealClock{}, []Process{p}); err != nil {
		t.Fatalf("StopProcesses: %v", err)
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
	if err := StopProcesses(context.Background(), clock.RealClock{}, []Process{p}); err != nil {
		t.Errorf("second StopProcesses: %v", err)
	}
}

// A recorded PID whose start time differs (a reused PID) is not ours: it is
// not Running and StopProcesses leaves it alone.
func TestStopProcessesIgnoresReusedPID(t *testing.T) {
	t.Parallel()
	self := Process{Name: "self", PID: os.Getpid()}
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
	if err := StopProcesses(context.Background(), clock.RealClock{}, []Process{stranger}); err != nil {
		t.Fatalf("StopProcesses: %v", err)
	}
	if !Running(self) {
		t.Fatal("StopProcesses signalled a process whose start time did not match")
	}
}

func TestStartProcessMissingBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := startProcess("ghost", filepath.Join(dir, "nope"), nil, filepath.Join(dir, "ghost.log"), false)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("startProcess of a missing binary = %v, want ErrNotExist", err)
	}
}

func waitChild(t *testing.T, path string) Process {
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
			return Process{Name: "child", PID: pid, StartTime: st.startTime}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("child pid never written")
	return Process{}
}
