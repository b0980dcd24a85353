package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/utils/clock"
)

// DefaultStartGrace is how long Dir.Start watches for an early exit.
const DefaultStartGrace = time.Second

// Dir supervises named processes under Base: <Base>/<name>.pid holds
// "PID STARTTIME" and <Base>/<name>.log their output. A name's process is
// recognised by its Identity arguments (e.g. "--name=m1", "--data-dir=…"),
// which must appear in its command line: that both guards the pid file
// against PID reuse and lets Alive adopt an orphan — what a SIGKILL between
// starting a process and writing its pid file leaves, still holding its
// ports.
type Dir struct {
	Base  string
	Clock clock.Clock // nil = real clock
	// StartGrace is how long Start waits for an early exit (bad flags, port
	// in use); 0 = DefaultStartGrace.
	StartGrace time.Duration
}

// PidPath is the pid file of name.
func (d Dir) PidPath(name string) string { return filepath.Join(d.Base, name+".pid") }

// LogPath is the log file of name.
func (d Dir) LogPath(name string) string { return filepath.Join(d.Base, name+".log") }

func (d Dir) clock() clock.Clock {
	if d.Clock == nil {
		return clock.RealClock{}
	}
	return d.Clock
}

// Alive returns the Handle of name's live process: the one its pid file
// names when its command line carries identity, else an orphan found by
// identity (Find), which it adopts by rewriting the pid file.
func (d Dir) Alive(name string, identity ...string) (Handle, bool) {
	if b, err := os.ReadFile(d.PidPath(name)); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 1 {
			pid, _ := strconv.Atoi(f[0])
			if h, err := Identify(pid); pid > 0 && err == nil && Running(h) {
				if len(f) < 2 || f[1] == strconv.FormatUint(h.StartTime, 10) {
					if cl := Cmdline(pid); cl != nil && HasArgs(cl, identity...) {
						h.Name, h.Log = name, d.LogPath(name)
						return h, true
					}
				}
			}
		}
	}
	if len(identity) == 0 {
		return Handle{}, false
	}
	h, ok := Find(identity...)
	if !ok {
		return Handle{}, false
	}
	h.Name, h.Log = name, d.LogPath(name)
	if err := d.writePid(name, h); err != nil {
		return Handle{}, false
	}
	return h, true
}

// Start launches path with args as name unless Alive(name, identity…)
// finds it (then it returns that Handle and false). It watches for an early
// exit for StartGrace and returns an error wrapping ErrExited with the log's
// last lines then. identity should be a subset of args.
func (d Dir) Start(ctx context.Context, name, path string, args []string, identity ...string) (Handle, bool, error) {
	if d.Base == "" {
		return Handle{}, false, fmt.Errorf("%w: Dir.Base is empty", ErrInvalidSpec)
	}
	if h, ok := d.Alive(name, identity...); ok {
		return h, false, nil
	}
	if err := os.MkdirAll(d.Base, 0o700); err != nil {
		return Handle{}, false, err
	}
	// Detached: the process outlives this one (a killed run is resumed).
	h, err := Start(Spec{Name: name, Path: path, Args: args, Log: d.LogPath(name), Detach: true})
	if err != nil {
		return Handle{}, false, err
	}
	if err := d.writePid(name, h); err != nil {
		signal(h, syscall.SIGKILL)
		return Handle{}, false, err
	}
	grace := d.StartGrace
	if grace == 0 {
		grace = DefaultStartGrace
	}
	clk := d.clock()
	deadline := clk.Now().Add(grace)
	for clk.Now().Before(deadline) {
		if !Running(h) {
			return Handle{}, false, fmt.Errorf("%w: %q; log %s:\n%s", ErrExited, name, h.Log, Tail(h.Log, 10))
		}
		select {
		case <-ctx.Done():
			return h, true, ctx.Err()
		case <-clk.After(pollEvery):
		}
	}
	return h, true, nil
}

// Stop ends name's process (found as Alive does; grace as Stop) and removes
// its pid file. An absent process is not an error.
func (d Dir) Stop(ctx context.Context, name string, grace time.Duration, identity ...string) error {
	if h, ok := d.Alive(name, identity...); ok {
		if err := Stop(ctx, d.clock(), h, grace); err != nil {
			return err
		}
	}
	if err := os.Remove(d.PidPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (d Dir) writePid(name string, h Handle) error {
	return WriteFileAtomic(d.PidPath(name), []byte(fmt.Sprintf("%d %d\n", h.PID, h.StartTime)))
}

// WriteFileAtomic writes b to path via a temporary file and a rename (mode
// 0600), so a reader never sees a partial file.
func WriteFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
