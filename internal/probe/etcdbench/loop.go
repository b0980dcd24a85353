package etcdbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Loop runs etcd's `benchmark` back to back, Chunk requests per run, until
// stopped, each run started against the endpoints of that moment (and
// following the membership by itself when Global has
// --auto-sync-interval). Short runs are how a report gets the tool's own
// summary for a span of unknown length: the tool prints it only when its
// --total is reached. Loop is a ClientHold: Hold stops the running
// process (SIGSTOP, standing in for a proxy that stops forwarding) and
// keeps a new run from starting; Release continues it.
type Loop struct {
	Binary string
	// Global are flags before the command (--conns, --clients,
	// --auto-sync-interval, …); --endpoints is added.
	Global []string
	// Command is the command and its flags (put --rate=50 …);
	// --total=Chunk is added.
	Command []string
	Chunk   int
	// Endpoints returns the client URLs a new run starts with.
	Endpoints func(context.Context) ([]string, error)
	// LogDir, when set, keeps each run's output in LogDir/run-N.log.
	LogDir string

	mu     sync.Mutex
	cond   *sync.Cond
	cur    *exec.Cmd
	paused bool
	runs   []Run
}

// Run is one finished benchmark run.
type Run struct {
	Planned int // its --total
	Summary Summary
	Err     error // the run did not end normally (no summary)
}

// Tally adds up the runs: Tried is the requests planned by the runs that
// ended (each run sends exactly its --total), Succeeded and Failed are from
// their summaries, Unaccounted = Tried − Succeeded − Failed (0 unless a
// run did not end normally).
type Tally struct {
	Runs                     int
	Tried, Succeeded, Failed int64
	Unaccounted              int64
	Errors                   map[string]int64
	AbnormalRuns             int
	SlowestRun, TotalTime    time.Duration
}

func (l *Loop) init() {
	if l.cond == nil {
		l.cond = sync.NewCond(&l.mu)
	}
}

// Run starts runs until stop is closed, then waits for the current run to
// end by itself (at most its planned duration + 1 min, else it is killed)
// and returns. ctx ending kills the current run at once. The error is
// from starting the tool; a run that fails is recorded, not returned.
func (l *Loop) Run(ctx context.Context, stop <-chan struct{}) error {
	l.mu.Lock()
	l.init()
	l.mu.Unlock()
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		eps, err := l.Endpoints(ctx)
		if err != nil {
			return fmt.Errorf("benchmark endpoints: %w", err)
		}
		args := append([]string{"--endpoints=" + strings.Join(eps, ",")}, l.Global...)
		args = append(args, l.Command...)
		args = append(args, "--total="+strconv.Itoa(l.Chunk))
		var out bytes.Buffer
		cmd := exec.Command(l.Binary, args...) //nolint:gosec // G204: the operator chose the binary
		cmd.Stdout, cmd.Stderr = &out, &out
		l.mu.Lock()
		for l.paused {
			l.cond.Wait()
		}
		if err := cmd.Start(); err != nil {
			l.mu.Unlock()
			return fmt.Errorf("start %s: %w", l.Binary, err)
		}
		l.cur = cmd
		l.mu.Unlock()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var werr error
		select {
		case werr = <-done:
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return fmt.Errorf("%w (benchmark run killed: %w)", ctx.Err(), <-done)
		case <-stop:
			select {
			case werr = <-done:
			case <-time.After(l.chunkTime() + time.Minute):
				_ = cmd.Process.Kill()
				werr = errors.Join(errors.New("killed: did not end a minute after its planned duration"), <-done)
			case <-ctx.Done():
				_ = cmd.Process.Kill()
				return fmt.Errorf("%w (benchmark run killed: %w)", ctx.Err(), <-done)
			}
		}
		if l.LogDir != "" {
			_ = os.WriteFile(filepath.Join(l.LogDir, fmt.Sprintf("run-%d.log", len(l.runs)+1)), out.Bytes(), 0o600)
		}
		s, perr := ParseSummary(out.String())
		r := Run{Planned: l.Chunk, Summary: s, Err: errors.Join(werr, perr)}
		l.mu.Lock()
		l.cur = nil
		l.runs = append(l.runs, r)
		l.mu.Unlock()
		if r.Err != nil && s.Succeeded == 0 && s.Failed() == 0 {
			// Nothing was sent (bad flags, no binary): do not spin.
			return fmt.Errorf("benchmark run sent nothing: %w", r.Err)
		}
		select {
		case <-stop:
			return nil
		default:
		}
	}
}

// chunkTime is a run's planned duration from a --rate=N in Command (0
// when none).
func (l *Loop) chunkTime() time.Duration {
	for _, a := range l.Command {
		if v, ok := strings.CutPrefix(a, "--rate="); ok {
			if r, err := strconv.Atoi(v); err == nil && r > 0 {
				return time.Duration(l.Chunk) * time.Second / time.Duration(r)
			}
		}
	}
	return 0
}

// Hold stops the running process (SIGSTOP) and keeps new runs from
// starting until Release.
func (l *Loop) Hold(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	l.paused = true
	if l.cur != nil {
		return l.cur.Process.Signal(syscall.SIGSTOP)
	}
	return nil
}

// Release continues the running process (SIGCONT) and lets new runs start.
func (l *Loop) Release(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	l.paused = false
	l.cond.Broadcast()
	if l.cur != nil {
		return l.cur.Process.Signal(syscall.SIGCONT)
	}
	return nil
}

// Tally adds up the finished runs.
func (l *Loop) Tally() Tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	return TallyRuns(l.runs)
}

// TallyRuns adds up runs (see Tally). Pure.
func TallyRuns(runs []Run) Tally {
	t := Tally{Runs: len(runs), Errors: map[string]int64{}}
	for _, r := range runs {
		t.Tried += int64(r.Planned)
		t.Succeeded += r.Summary.Succeeded
		t.Failed += r.Summary.Failed()
		for k, v := range r.Summary.Errors {
			t.Errors[k] += v
		}
		if r.Err != nil {
			t.AbnormalRuns++
		}
		t.TotalTime += r.Summary.Total
		t.SlowestRun = max(t.SlowestRun, r.Summary.Total)
	}
	t.Unaccounted = t.Tried - t.Succeeded - t.Failed
	return t
}
