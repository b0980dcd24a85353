package plan

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// callLog records the calls steps receive, in order ("apply a", "check a",
// "revert a").
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *callLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// count returns how many recorded calls equal s.
func (l *callLog) count(s string) int {
	n := 0
	for _, c := range l.list() {
		if c == s {
			n++
		}
	}
	return n
}

// testStep is a pure in-memory step that records every call. The funcs get
// the 1-based attempt number of that call; nil funcs succeed.
type testStep struct {
	name   string
	log    *callLog
	apply  func(ctx context.Context, n int) error
	check  func(ctx context.Context, n int) Result
	revert func(ctx context.Context, n int) error

	mu                      sync.Mutex
	nApply, nCheck, nRevert int
}

func (s *testStep) Name() string { return s.name }

func (s *testStep) Apply(ctx context.Context) error {
	s.log.add("apply " + s.name)
	s.mu.Lock()
	s.nApply++
	n := s.nApply
	s.mu.Unlock()
	if s.apply != nil {
		return s.apply(ctx, n)
	}
	return nil
}

func (s *testStep) Check(ctx context.Context) Result {
	s.log.add("check " + s.name)
	s.mu.Lock()
	s.nCheck++
	n := s.nCheck
	s.mu.Unlock()
	if s.check != nil {
		return s.check(ctx, n)
	}
	return Done()
}

func (s *testStep) Revert(ctx context.Context) error {
	s.log.add("revert " + s.name)
	s.mu.Lock()
	s.nRevert++
	n := s.nRevert
	s.mu.Unlock()
	if s.revert != nil {
		return s.revert(ctx, n)
	}
	return nil
}

// timeoutStep is a testStep with its own deadline.
type timeoutStep struct {
	*testStep
	d time.Duration
}

func (s timeoutStep) Timeout() time.Duration { return s.d }

// describedStep is a testStep that explains itself.
type describedStep struct {
	*testStep
	text string
}

func (s describedStep) Describe() string { return s.text }

// newSteps returns plain recording steps with the given names.
func newSteps(log *callLog, names ...string) []*testStep {
	out := make([]*testStep, len(names))
	for i, n := range names {
		out[i] = &testStep{name: n, log: log}
	}
	return out
}

func asSteps(ts []*testStep) []Step {
	out := make([]Step, len(ts))
	for i, s := range ts {
		out[i] = s
	}
	return out
}

// eventLog is an Observer that records events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (e *eventLog) Observe(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

// marks renders events as "Kind" or "Kind step" (plus ":reason" for
// progress, failures and the end) for compact comparison.
func (e *eventLog) marks() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, len(e.events))
	for i, ev := range e.events {
		s := string(ev.Kind)
		if ev.Step != "" {
			s += " " + ev.Step
		}
		switch ev.Kind {
		case EventStepProgress:
			s += ":" + ev.Reason
		case EventPlanEnded:
			s += ":" + string(ev.Outcome)
		}
		out[i] = s
	}
	return out
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// runFake runs p with a fake clock that advances by p.PollInterval only
// while the runner is waiting (a poll or backoff timer besides the step
// timer), so a step that completes never sees time pass and a step that
// keeps waiting eventually times out. It fails the test if Run does not
// return within 30 s of wall time.
func runFake(ctx context.Context, t *testing.T, r *Runner, p *Plan) (*State, error) {
	t.Helper()
	return runOnClock(ctx, t, r, p, clocktesting.NewFakeClock(t0), nil)
}

// runOnClock is runFake on fc; hook, when set, runs before every step of
// the clock and returns true to skip it (e.g. to cancel ctx at a time).
func runOnClock(ctx context.Context, t *testing.T, r *Runner, p *Plan, fc *clocktesting.FakeClock, hook func() bool) (*State, error) {
	t.Helper()
	r.Clock = fc
	type result struct {
		st  *State
		err error
	}
	ch := make(chan result, 1)
	go func() {
		st, err := r.Run(ctx, p)
		ch <- result{st, err}
	}()
	step := p.PollInterval
	if step <= 0 {
		step = DefaultPollInterval
	}
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		select {
		case res := <-ch:
			return res.st, res.err
		case <-guard.C:
			t.Fatalf("Run(%q) did not return within 30s", p.Name)
			return nil, nil
		default:
		}
		if hook != nil && hook() {
			time.Sleep(20 * time.Microsecond)
			continue
		}
		if fc.Waiters() >= 2 {
			fc.Step(step)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// phases returns "name=Phase" for every step of st.
func phases(st *State) []string {
	if st == nil {
		return nil
	}
	out := make([]string, len(st.Steps))
	for i, s := range st.Steps {
		out[i] = fmt.Sprintf("%s=%s", s.Name, s.Phase)
	}
	return out
}
