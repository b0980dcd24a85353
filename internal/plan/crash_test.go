package plan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash/resume tests run a plan in a child process (this test binary
// re-executed with -test.run=^TestHelperProcess$) whose steps change files in
// a shared directory, SIGKILL the child at one point, run it again without
// the kill and compare the end state with an uninterrupted run.
//
// Layout of the shared directory:
//
//	state.json  the FileCheckpoint
//	world/sN    marker created by Apply of step sN, removed by its Revert
//	calls       one line per call: "apply sN" / "revert sN" (append-only)
//	events      one line per observed event: "Kind sN" (append-only)
//	aux/        bookkeeping of the steps' gates, not part of the world
//	block-sN    present: the gate of sN fails (the rollback scenario)
const (
	envHelper   = "HANDOVER_PLAN_HELPER"
	envDir      = "HANDOVER_PLAN_DIR"
	envKill     = "HANDOVER_PLAN_KILL" // "apply:sN", "revert:sN" or "event:Kind:sN"
	envScenario = "HANDOVER_PLAN_SCENARIO"
)

// crashScenario is one plan shape run in the child.
type crashScenario struct {
	name  string
	steps int
	pnr   int
	block string // step whose gate fails, "" for none
	want  Outcome
}

var crashScenarios = map[string]crashScenario{
	"forward":  {name: "forward", steps: 4, pnr: 2, want: OutcomeSucceeded},
	"rollback": {name: "rollback", steps: 4, pnr: 3, block: "s2", want: OutcomeRolledBack},
}

// TestHelperProcess is the child side; it does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process for the crash/resume tests")
	}
	sc, ok := crashScenarios[os.Getenv(envScenario)]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown scenario %q\n", os.Getenv(envScenario))
		os.Exit(2)
	}
	dir, kill := os.Getenv(envDir), os.Getenv(envKill)
	steps := make([]Step, sc.steps)
	for i := range steps {
		steps[i] = &fileStep{name: fmt.Sprintf("s%d", i), dir: dir, kill: kill}
	}
	p := &Plan{
		Name: "crash-" + sc.name, Steps: steps, PointOfNoReturn: sc.pnr,
		StepTimeout: 30 * time.Second, PollInterval: time.Millisecond,
	}
	obs := ObserverFunc(func(e Event) {
		appendLine(filepath.Join(dir, "events"), strings.TrimSpace(string(e.Kind)+" "+e.Step))
		if kill == "event:"+string(e.Kind)+":"+e.Step {
			killSelf()
		}
	})
	r := &Runner{Checkpoint: NewFileCheckpoint(filepath.Join(dir, "state.json")), Observers: []Observer{obs}}
	st, err := r.Run(context.Background(), p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "run: %v\n", err)
		os.Exit(3)
	}
	fmt.Println(st.Outcome)
	os.Exit(0)
}

func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // never returns: the signal is fatal
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		panic(err)
	}
}

// fileStep keeps its effect in dir/world/<name>; see the layout above.
type fileStep struct{ name, dir, kill string }

func (s *fileStep) Name() string   { return s.name }
func (s *fileStep) marker() string { return filepath.Join(s.dir, "world", s.name) }

func (s *fileStep) Apply(context.Context) error {
	appendLine(filepath.Join(s.dir, "calls"), "apply "+s.name)
	if err := os.MkdirAll(filepath.Dir(s.marker()), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(s.marker(), []byte("applied "+s.name), 0o600); err != nil {
		return err
	}
	if s.kill == "apply:"+s.name {
		killSelf() // after the side effect, before returning
	}
	return nil
}

func (s *fileStep) Check(context.Context) Result {
	if _, err := os.Stat(filepath.Join(s.dir, "block-"+s.name)); err == nil {
		return Failed("blocked by block-" + s.name)
	}
	b, err := os.ReadFile(s.marker())
	if err != nil || string(b) != "applied "+s.name {
		return NotYet("marker " + s.name + " missing")
	}
	// s1 settles: its first Check ever says NotYet, so runs poll and emit
	// progress (the aux file survives a kill, like real-world progress).
	if s.name == "s1" {
		settled := filepath.Join(s.dir, "aux", "s1-settled")
		if _, err := os.Stat(settled); errors.Is(err, fs.ErrNotExist) {
			_ = os.MkdirAll(filepath.Dir(settled), 0o700)
			_ = os.WriteFile(settled, nil, 0o600)
			return NotYet("settling")
		}
	}
	return Done()
}

func (s *fileStep) Revert(context.Context) error {
	appendLine(filepath.Join(s.dir, "calls"), "revert "+s.name)
	if err := os.Remove(s.marker()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if s.kill == "revert:"+s.name {
		killSelf() // after the side effect, before returning
	}
	return nil
}

// childResult is what one child run left behind.
type childResult struct {
	killed  bool
	stdout  string
	stderr  string
	exitErr error
}

func runChild(t *testing.T, dir, scenario, kill string) childResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"=1", envDir+"="+dir, envScenario+"="+scenario, envKill+"="+kill,
		// A -race child would otherwise sleep 1 s at exit (atexit_sleep_ms).
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := childResult{stdout: strings.TrimSpace(out.String()), stderr: errOut.String(), exitErr: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			res.killed = true
		}
	}
	return res
}

// newCrashDir prepares a shared directory for scenario sc.
func newCrashDir(t *testing.T, sc crashScenario) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "world"), 0o700); err != nil {
		t.Fatal(err)
	}
	if sc.block != "" {
		if err := os.WriteFile(filepath.Join(dir, "block-"+sc.block), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// world renders dir/world as "name=content" lines, sorted.
func world(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "world"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "world", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Name()+"="+string(b))
	}
	return out
}

// lines returns the lines of dir/name (nil when missing).
func lines(t *testing.T, dir, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func countLines(ls []string) map[string]int {
	m := map[string]int{}
	for _, l := range ls {
		m[l]++
	}
	return m
}

// loadState reads the child's checkpoint.
func loadState(t *testing.T, dir string) *State {
	t.Helper()
	st, err := NewFileCheckpoint(filepath.Join(dir, "state.json")).Load(context.Background())
	if err != nil || st == nil {
		t.Fatalf("load checkpoint: %+v, %v", st, err)
	}
	return st
}

// killPoints derives every kill point from an uninterrupted run: after each
// distinct event (the state it reports is persisted, the next change has not
// started) and in the middle of each distinct Apply and Revert.
func killPoints(events, calls []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, e := range events {
		kind, step, _ := strings.Cut(e, " ")
		add("event:" + kind + ":" + step)
	}
	for _, c := range calls {
		verb, step, _ := strings.Cut(c, " ")
		add(verb + ":" + step)
	}
	return out
}

// extraCalls is how many calls a kill at point adds over an uninterrupted
// run: the call killed in its middle runs again, and a step killed after its
// Apply ran but before Done (or the rollback) was persisted — after
// StepProgress or StepFailed — is Applying, so it is applied again.
func extraCalls(point string) map[string]int {
	parts := strings.Split(point, ":")
	switch {
	case parts[0] == "apply" || parts[0] == "revert":
		return map[string]int{parts[0] + " " + parts[1]: 1}
	case parts[0] == "event" && (parts[1] == string(EventStepProgress) || parts[1] == string(EventStepFailed)):
		return map[string]int{"apply " + parts[2]: 1}
	}
	return nil
}

func TestCrashResume(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"forward", "rollback"} {
		sc := crashScenarios[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Uninterrupted run: the reference end state.
			base := newCrashDir(t, sc)
			res := runChild(t, base, name, "")
			if res.exitErr != nil || res.stdout != string(sc.want) {
				t.Fatalf("uninterrupted run: %v, stdout %q, stderr %s", res.exitErr, res.stdout, res.stderr)
			}
			wantWorld := world(t, base)
			baseCalls := lines(t, base, "calls")
			wantCounts := countLines(baseCalls)
			wantState := loadState(t, base)
			points := killPoints(lines(t, base, "events"), baseCalls)

			// Sanity of the reference run, so the comparison cannot be vacuous.
			switch name {
			case "forward":
				if len(wantWorld) != sc.steps {
					t.Fatalf("forward world = %q, want all %d markers", wantWorld, sc.steps)
				}
				for i := range sc.steps {
					if n := wantCounts[fmt.Sprintf("apply s%d", i)]; n != 1 {
						t.Fatalf("uninterrupted: apply s%d ran %d times", i, n)
					}
				}
			case "rollback":
				if len(wantWorld) != 0 {
					t.Fatalf("rollback world = %q, want empty", wantWorld)
				}
				want := []string{"apply s0", "apply s1", "apply s2", "revert s2", "revert s1", "revert s0"}
				if !slices.Equal(baseCalls, want) {
					t.Fatalf("uninterrupted rollback calls = %q, want %q", baseCalls, want)
				}
			}
			if len(points) < 3*sc.steps {
				t.Fatalf("only %d kill points (%q): the reference run observed too little", len(points), points)
			}

			for _, point := range points {
				t.Run(strings.ReplaceAll(point, ":", "_"), func(t *testing.T) {
					t.Parallel()
					dir := newCrashDir(t, sc)
					first := runChild(t, dir, name, point)
					if !first.killed {
						t.Fatalf("child was not killed at %s: %v, stdout %q, stderr %s", point, first.exitErr, first.stdout, first.stderr)
					}
					second := runChild(t, dir, name, "")
					if second.exitErr != nil || second.stdout != string(sc.want) {
						t.Fatalf("resumed run: %v, stdout %q (want %s), stderr %s", second.exitErr, second.stdout, sc.want, second.stderr)
					}
					if got := world(t, dir); !slices.Equal(got, wantWorld) {
						t.Errorf("world = %q, want %q", got, wantWorld)
					}
					st := loadState(t, dir)
					if st.Outcome != wantState.Outcome || st.Reason != wantState.Reason {
						t.Errorf("outcome = %s (%q), want %s (%q)", st.Outcome, st.Reason, wantState.Outcome, wantState.Reason)
					}
					if got, want := phases(st), phases(wantState); !slices.Equal(got, want) {
						t.Errorf("phases = %q, want %q", got, want)
					}
					want := maps.Clone(wantCounts)
					for k, n := range extraCalls(point) {
						want[k] += n
					}
					if got := countLines(lines(t, dir, "calls")); !maps.Equal(got, want) {
						t.Errorf("calls per step = %v, want %v (log %q)", got, want, lines(t, dir, "calls"))
					}
				})
			}
		})
	}
}
