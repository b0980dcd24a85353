package plan

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func equalOrFail(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func TestRunHappyPath(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	steps := newSteps(log, "a", "b", "c")
	cp := &MemoryCheckpoint{}
	ev := &eventLog{}
	p := &Plan{Name: "happy", Steps: asSteps(steps), PointOfNoReturn: 2, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{Checkpoint: cp, Observers: []Observer{ev}}, p)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Outcome != OutcomeSucceeded || st.Reason != "" || st.RollingBack {
		t.Fatalf("state = %+v, want Succeeded without reason", st)
	}
	equalOrFail(t, "calls", log.list(), []string{"apply a", "check a", "apply b", "check b", "apply c", "check c"})
	equalOrFail(t, "phases", phases(st), []string{"a=Done", "b=Done", "c=Done"})
	saved, _ := cp.Load(t.Context())
	if saved.Outcome != OutcomeSucceeded {
		t.Errorf("saved outcome = %q, want Succeeded", saved.Outcome)
	}
	equalOrFail(t, "events", ev.marks(), []string{
		"PlanStarted",
		"StepStarted a", "StepDone a",
		"StepStarted b", "StepDone b",
		"StepStarted c", "StepDone c",
		"PlanEnded:Succeeded",
	})
	for _, e := range ev.events {
		if e.Plan != "happy" || !e.Time.Equal(t0) {
			t.Errorf("event %+v: want Plan happy and Time from the fake clock %v", e, t0)
		}
		if (e.Step == "") != (e.Index == -1) {
			t.Errorf("event %+v: plan-level events have Index -1, step events the step index", e)
		}
	}
}

// A gate that fails before the point of no return reverts exactly the
// applied steps, in reverse order, and never touches later steps.
func TestRunFailedGateBeforePNRRollsBackAppliedSteps(t *testing.T) {
	t.Parallel()
	names := []string{"a", "b", "c", "d"}
	for failAt := range 3 { // PNR = 3: steps a, b, c are revertible
		t.Run(names[failAt], func(t *testing.T) {
			t.Parallel()
			log := &callLog{}
			steps := newSteps(log, names...)
			steps[failAt].check = func(context.Context, int) Result { return Failed("disk full") }
			cp := &MemoryCheckpoint{}
			p := &Plan{Name: "rb", Steps: asSteps(steps), PointOfNoReturn: 3, PollInterval: time.Second}
			st, err := runFake(t.Context(), t, &Runner{Checkpoint: cp}, p)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if st.Outcome != OutcomeRolledBack {
				t.Fatalf("outcome = %q (%s), want RolledBack", st.Outcome, st.Reason)
			}
			if want := `step "` + names[failAt] + `": gate failed: disk full`; st.Reason != want {
				t.Errorf("reason = %q, want %q", st.Reason, want)
			}
			var want, wantPhases []string
			for i := 0; i <= failAt; i++ {
				want = append(want, "apply "+names[i], "check "+names[i])
			}
			for i := failAt; i >= 0; i-- {
				want = append(want, "revert "+names[i])
			}
			equalOrFail(t, "calls", log.list(), want)
			for i, n := range names {
				ph := "Pending"
				if i <= failAt {
					ph = "Reverted"
				}
				wantPhases = append(wantPhases, n+"="+ph)
			}
			equalOrFail(t, "phases", phases(st), wantPhases)
			saved, _ := cp.Load(t.Context())
			if saved.Outcome != OutcomeRolledBack || !saved.RollingBack {
				t.Errorf("saved = %+v, want RolledBack with RollingBack", saved)
			}
		})
	}
}

func TestRunFailureAtOrAfterPNRFailsWithoutRevert(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		pnr    int
		failAt int
	}{
		{"at PNR", 1, 1},
		{"after PNR", 1, 2},
		{"no revertible step", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &callLog{}
			steps := newSteps(log, "a", "b", "c")
			steps[tc.failAt].check = func(context.Context, int) Result { return Failed("quorum lost") }
			p := &Plan{Name: "fwd", Steps: asSteps(steps), PointOfNoReturn: tc.pnr, PollInterval: time.Second}
			st, err := runFake(t.Context(), t, &Runner{}, p)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if st.Outcome != OutcomeFailed || st.RollingBack {
				t.Fatalf("state = %+v, want Failed without rollback", st)
			}
			if !strings.Contains(st.Reason, "quorum lost") || !strings.Contains(st.Reason, steps[tc.failAt].name) {
				t.Errorf("reason = %q, want the step and the gate reason", st.Reason)
			}
			for _, c := range log.list() {
				if strings.HasPrefix(c, "revert") {
					t.Errorf("unexpected %q after the point of no return", c)
				}
			}
			if n := log.count("apply c"); tc.failAt < 2 && n != 0 {
				t.Errorf("step c applied %d times after an earlier failure", n)
			}
		})
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	notYet := func(context.Context, int) Result { return NotYet("waiting for leaves") }
	t.Run("before PNR rolls back", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		steps := newSteps(log, "a", "b", "c")
		steps[1].check = notYet
		p := &Plan{Name: "to", Steps: asSteps(steps), PointOfNoReturn: 2, StepTimeout: 10 * time.Second, PollInterval: time.Second}
		st, err := runFake(t.Context(), t, &Runner{}, p)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.Outcome != OutcomeRolledBack {
			t.Fatalf("outcome = %q (%s), want RolledBack", st.Outcome, st.Reason)
		}
		want := `step "b": step timed out after 10s (last: waiting for leaves)`
		if st.Reason != want {
			t.Errorf("reason = %q, want %q", st.Reason, want)
		}
		if log.count("revert b") != 1 || log.count("revert a") != 1 || log.count("revert c") != 0 {
			t.Errorf("calls = %q, want b and a reverted once, c never", log.list())
		}
	})
	t.Run("after PNR fails", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		steps := newSteps(log, "a", "b")
		steps[1].check = notYet
		p := &Plan{Name: "to", Steps: asSteps(steps), PointOfNoReturn: 1, StepTimeout: 10 * time.Second, PollInterval: time.Second}
		st, err := runFake(t.Context(), t, &Runner{}, p)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.Outcome != OutcomeFailed || !strings.Contains(st.Reason, "timed out") {
			t.Fatalf("state = %+v, want Failed by timeout", st)
		}
		if log.count("revert a") != 0 {
			t.Errorf("a reverted after the point of no return")
		}
	})
	t.Run("Timeouter overrides StepTimeout", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		ts := &testStep{name: "slow", log: log, check: notYet}
		p := &Plan{Name: "to", Steps: []Step{timeoutStep{ts, 5 * time.Second}}, PointOfNoReturn: 1,
			StepTimeout: time.Hour, PollInterval: time.Second}
		st, err := runFake(t.Context(), t, &Runner{}, p)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !strings.Contains(st.Reason, "timed out after 5s") {
			t.Errorf("reason = %q, want the step's own 5s timeout", st.Reason)
		}
	})
	t.Run("transient apply errors until timeout", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		steps := newSteps(log, "a")
		steps[0].apply = func(context.Context, int) error { return errors.New("connection refused") }
		p := &Plan{Name: "to", Steps: asSteps(steps), PointOfNoReturn: 1, StepTimeout: 30 * time.Second, PollInterval: time.Second}
		st, err := runFake(t.Context(), t, &Runner{}, p)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.Outcome != OutcomeRolledBack || !strings.Contains(st.Reason, "timed out after 30s (last: apply: connection refused)") {
			t.Fatalf("state = %+v, want RolledBack by timeout naming the last apply error", st)
		}
		if n := log.count("apply a"); n < 2 {
			t.Errorf("apply called %d times, want retries", n)
		}
		if log.count("check a") != 0 {
			t.Errorf("check called although apply never succeeded")
		}
	})
}

func TestRunPermanentError(t *testing.T) {
	t.Parallel()
	t.Run("apply before PNR", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		steps := newSteps(log, "a", "b")
		steps[1].apply = func(context.Context, int) error {
			return Permanent(errors.New("spec names no members"))
		}
		p := &Plan{Name: "perm", Steps: asSteps(steps), PointOfNoReturn: 2, PollInterval: time.Second}
		st, err := runFake(t.Context(), t, &Runner{}, p)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.Outcome != OutcomeRolledBack || st.Reason != `step "b": apply: spec names no members` {
			t.Fatalf("state = %+v", st)
		}
		// b's Apply may have had partial effect, so it is reverted too.
		equalOrFail(t, "calls", log.list(), []string{"apply a", "check a", "apply b", "revert b", "revert a"})
	})
	t.Run("apply after PNR", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		steps := newSteps(log, "a")
		steps[0].apply = func(context.Context, int) error { return Permanent(errors.New("gone")) }
		p := &Plan{Name: "perm", Steps: asSteps(steps), PointOfNoReturn: 0, PollInterval: time.Second}
		st, err := runFake(t.Context(), t, &Runner{}, p)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.Outcome != OutcomeFailed || st.Reason != `step "a": apply: gone` {
			t.Fatalf("state = %+v", st)
		}
		equalOrFail(t, "calls", log.list(), []string{"apply a"})
	})
}

func TestRunTransientErrorThenSuccess(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	steps := newSteps(log, "a", "b")
	steps[0].apply = func(_ context.Context, n int) error {
		if n < 3 {
			return errors.New("etcdserver: leader changed")
		}
		return nil
	}
	p := &Plan{Name: "retry", Steps: asSteps(steps), PointOfNoReturn: 2, StepTimeout: time.Hour, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{}, p)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Outcome != OutcomeSucceeded {
		t.Fatalf("state = %+v, want Succeeded", st)
	}
	equalOrFail(t, "calls", log.list(), []string{"apply a", "apply a", "apply a", "check a", "apply b", "check b"})
}

func TestRunProgressEventsOnlyWhenReasonChanges(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	steps := newSteps(log, "learner")
	reasons := []string{"applied 10/100", "applied 10/100", "applied 60/100", "applied 60/100", "applied 90/100"}
	steps[0].check = func(_ context.Context, n int) Result {
		if n <= len(reasons) {
			return NotYet(reasons[n-1])
		}
		return Done()
	}
	ev := &eventLog{}
	p := &Plan{Name: "prog", Steps: asSteps(steps), PointOfNoReturn: 1, StepTimeout: time.Hour, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{Observers: []Observer{ev}}, p)
	if err != nil || st.Outcome != OutcomeSucceeded {
		t.Fatalf("Run = %+v, %v", st, err)
	}
	if n := log.count("check learner"); n != 6 {
		t.Errorf("check called %d times, want 6 (polled until Done)", n)
	}
	equalOrFail(t, "events", ev.marks(), []string{
		"PlanStarted", "StepStarted learner",
		"StepProgress learner:applied 10/100",
		"StepProgress learner:applied 60/100",
		"StepProgress learner:applied 90/100",
		"StepDone learner", "PlanEnded:Succeeded",
	})
}

func TestRunObserverSequenceOnRollback(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	steps := newSteps(log, "a", "b", "c")
	steps[1].check = func(_ context.Context, n int) Result {
		if n == 1 {
			return NotYet("waiting")
		}
		return Failed("bad certificate")
	}
	ev := &eventLog{}
	p := &Plan{Name: "seq", Steps: asSteps(steps), PointOfNoReturn: 3, StepTimeout: time.Hour, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{Observers: []Observer{ev}}, p)
	if err != nil || st.Outcome != OutcomeRolledBack {
		t.Fatalf("Run = %+v, %v", st, err)
	}
	equalOrFail(t, "events", ev.marks(), []string{
		"PlanStarted",
		"StepStarted a", "StepDone a",
		"StepStarted b", "StepProgress b:waiting", "StepFailed b",
		"StepReverting b", "StepReverted b",
		"StepReverting a", "StepReverted a",
		"PlanEnded:RolledBack",
	})
	last := ev.events[len(ev.events)-1]
	if last.Reason != `step "b": gate failed: bad certificate` {
		t.Errorf("PlanEnded reason = %q", last.Reason)
	}
}

// Every event is emitted only after the state it reports was saved.
func TestRunPersistsBeforeEmitting(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	steps := newSteps(log, "a", "b", "c")
	steps[2].check = func(context.Context, int) Result { return Failed("no") }
	cp := &MemoryCheckpoint{}
	var problems []string
	obs := ObserverFunc(func(e Event) {
		saved, _ := cp.Load(context.Background())
		if saved == nil {
			problems = append(problems, string(e.Kind)+": nothing saved")
			return
		}
		want := map[EventKind]StepPhase{
			EventStepStarted:   StepApplying,
			EventStepDone:      StepDone,
			EventStepReverting: StepReverting,
			EventStepReverted:  StepReverted,
		}
		if ph, ok := want[e.Kind]; ok && saved.Steps[e.Index].Phase != ph {
			problems = append(problems, string(e.Kind)+" "+e.Step+": saved phase "+string(saved.Steps[e.Index].Phase))
		}
		if e.Kind == EventStepFailed && saved.Steps[e.Index].Reason != e.Reason {
			problems = append(problems, "StepFailed: saved reason "+saved.Steps[e.Index].Reason)
		}
		if e.Kind == EventPlanEnded && saved.Outcome != e.Outcome {
			problems = append(problems, "PlanEnded: saved outcome "+string(saved.Outcome))
		}
	})
	p := &Plan{Name: "persist", Steps: asSteps(steps), PointOfNoReturn: 3, PollInterval: time.Second}
	if _, err := runFake(t.Context(), t, &Runner{Checkpoint: cp, Observers: []Observer{obs}}, p); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(problems) > 0 {
		t.Errorf("events emitted before their state was saved: %q", problems)
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	// cancelAtB builds a, b, c where b's first Check cancels ctx and says
	// NotYet; later Checks pass.
	build := func(log *callLog, cancel context.CancelFunc) []*testStep {
		steps := newSteps(log, "a", "b", "c")
		steps[1].check = func(_ context.Context, n int) Result {
			if n == 1 {
				cancel()
				return NotYet("syncing")
			}
			return Done()
		}
		return steps
	}

	t.Run("without RollbackOnCancel stops and resumes", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		steps := build(log, cancel)
		cp := &MemoryCheckpoint{}
		p := &Plan{Name: "cancel", Steps: asSteps(steps), PointOfNoReturn: 3, StepTimeout: time.Hour, PollInterval: time.Second}
		st, err := runFake(ctx, t, &Runner{Checkpoint: cp}, p)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run error = %v, want context.Canceled", err)
		}
		if st == nil || st.Outcome != OutcomeRunning {
			t.Fatalf("state = %+v, want still running", st)
		}
		equalOrFail(t, "phases", phases(st), []string{"a=Done", "b=Applying", "c=Pending"})
		equalOrFail(t, "calls", log.list(), []string{"apply a", "check a", "apply b", "check b"})

		ev := &eventLog{}
		st, err = runFake(t.Context(), t, &Runner{Checkpoint: cp, Observers: []Observer{ev}}, p)
		if err != nil || st.Outcome != OutcomeSucceeded {
			t.Fatalf("resumed Run = %+v, %v", st, err)
		}
		// a was Done: not applied again; b was Applying: applied again.
		equalOrFail(t, "calls", log.list(), []string{
			"apply a", "check a", "apply b", "check b",
			"apply b", "check b", "apply c", "check c",
		})
		if e := ev.events[0]; e.Kind != EventPlanStarted || e.Reason != "resumed" {
			t.Errorf("first event = %+v, want PlanStarted resumed", e)
		}
	})

	t.Run("with RollbackOnCancel before PNR rolls back", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		steps := build(log, cancel)
		var revertCtxErrs []error
		for _, s := range steps {
			s.revert = func(ctx context.Context, _ int) error {
				revertCtxErrs = append(revertCtxErrs, ctx.Err())
				return nil
			}
		}
		p := &Plan{Name: "cancel", Steps: asSteps(steps), PointOfNoReturn: 3, StepTimeout: time.Hour, PollInterval: time.Second}
		st, err := runFake(ctx, t, &Runner{RollbackOnCancel: true}, p)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st.Outcome != OutcomeRolledBack || st.Reason != "aborted" {
			t.Fatalf("state = %+v, want RolledBack aborted", st)
		}
		equalOrFail(t, "calls", log.list(), []string{"apply a", "check a", "apply b", "check b", "revert b", "revert a"})
		for i, e := range revertCtxErrs {
			if e != nil {
				t.Errorf("revert %d ran with a done context: %v", i, e)
			}
		}
	})

	t.Run("with RollbackOnCancel at PNR stops", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		steps := build(log, cancel)
		p := &Plan{Name: "cancel", Steps: asSteps(steps), PointOfNoReturn: 1, StepTimeout: time.Hour, PollInterval: time.Second}
		st, err := runFake(ctx, t, &Runner{RollbackOnCancel: true}, p)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run error = %v, want context.Canceled", err)
		}
		if st.Outcome != OutcomeRunning || log.count("revert a") != 0 {
			t.Fatalf("state = %+v, calls %q: want running, nothing reverted", st, log.list())
		}
	})

	t.Run("cancelled before start", func(t *testing.T) {
		t.Parallel()
		log := &callLog{}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		p := &Plan{Name: "cancel", Steps: asSteps(newSteps(log, "a")), PointOfNoReturn: 1}
		st, err := runFake(ctx, t, &Runner{RollbackOnCancel: true}, p)
		if err != nil || st.Outcome != OutcomeRolledBack || st.Reason != "aborted" {
			t.Fatalf("Run = %+v, %v; want RolledBack aborted", st, err)
		}
		if calls := log.list(); len(calls) != 0 {
			t.Errorf("calls = %q, want none", calls)
		}
	})
}

func TestRunInvalidPlan(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	ok := func(n string) Step { return &testStep{name: n, log: log} }
	for _, tc := range []struct {
		name string
		plan *Plan
		want string
	}{
		{"nil", nil, "plan is nil"},
		{"empty name", &Plan{Steps: []Step{ok("a")}}, "plan.Name is empty"},
		{"nil step", &Plan{Name: "p", Steps: []Step{ok("a"), nil}}, "Steps[1] is nil"},
		{"unnamed step", &Plan{Name: "p", Steps: []Step{ok("")}}, "Steps[0].Name() is empty"},
		{"duplicate", &Plan{Name: "p", Steps: []Step{ok("a"), ok("b"), ok("a")}}, `Steps[0] and Steps[2] are both named "a"`},
		{"PNR negative", &Plan{Name: "p", Steps: []Step{ok("a")}, PointOfNoReturn: -1}, "PointOfNoReturn -1 is outside [0, 1]"},
		{"PNR too big", &Plan{Name: "p", Steps: []Step{ok("a")}, PointOfNoReturn: 2}, "PointOfNoReturn 2 is outside [0, 1]"},
		{"negative timeout", &Plan{Name: "p", Steps: []Step{ok("a")}, StepTimeout: -time.Second}, "StepTimeout -1s is negative"},
		{"negative poll", &Plan{Name: "p", Steps: []Step{ok("a")}, PollInterval: -time.Second}, "PollInterval -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cp := &MemoryCheckpoint{}
			ev := &eventLog{}
			st, err := (&Runner{Checkpoint: cp, Observers: []Observer{ev}}).Run(t.Context(), tc.plan)
			if !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run error = %v, want ErrInvalidPlan mentioning %q", err, tc.want)
			}
			if st != nil {
				t.Errorf("state = %+v, want nil", st)
			}
			if saved, _ := cp.Load(t.Context()); saved != nil {
				t.Errorf("checkpoint saved %+v for an invalid plan", saved)
			}
			if len(ev.marks()) != 0 {
				t.Errorf("events %q for an invalid plan", ev.marks())
			}
		})
	}
	if calls := log.list(); len(calls) != 0 {
		t.Errorf("steps called for invalid plans: %q", calls)
	}
}

func TestRunEmptyPlanSucceeds(t *testing.T) {
	t.Parallel()
	st, err := (&Runner{}).Run(t.Context(), &Plan{Name: "empty"})
	if err != nil || st.Outcome != OutcomeSucceeded {
		t.Fatalf("Run = %+v, %v; want Succeeded", st, err)
	}
}

func TestRunCheckpointMismatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		saved State
		want  string
	}{
		{"other plan", State{Plan: "other", Steps: []StepState{{Name: "a"}, {Name: "b"}}}, `checkpoint is for plan "other", not "p"`},
		{"renamed step", State{Plan: "p", Steps: []StepState{{Name: "a"}, {Name: "x"}}}, `step 2: checkpoint has "x", plan has "b"`},
		{"extra step", State{Plan: "p", Steps: []StepState{{Name: "a"}, {Name: "b"}, {Name: "c"}}}, `step 3: checkpoint has "c", plan has no step`},
		{"missing step", State{Plan: "p", Steps: []StepState{{Name: "a"}}}, `step 2: checkpoint has no step, plan has "b"`},
		{"finished other plan", State{Plan: "other", Outcome: OutcomeSucceeded}, `checkpoint is for plan "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &callLog{}
			cp := &MemoryCheckpoint{}
			for i := range tc.saved.Steps {
				tc.saved.Steps[i].Phase = StepDone
			}
			_ = cp.Save(t.Context(), &tc.saved)
			p := &Plan{Name: "p", Steps: asSteps(newSteps(log, "a", "b")), PointOfNoReturn: 2}
			_, err := (&Runner{Checkpoint: cp}).Run(t.Context(), p)
			if !errors.Is(err, ErrCheckpointMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run error = %v, want ErrCheckpointMismatch mentioning %q", err, tc.want)
			}
			if calls := log.list(); len(calls) != 0 {
				t.Errorf("calls = %q, want none", calls)
			}
			saved, _ := cp.Load(t.Context())
			if saved.Plan != tc.saved.Plan || len(saved.Steps) != len(tc.saved.Steps) {
				t.Errorf("checkpoint changed to %+v", saved)
			}
		})
	}
}

func TestRunCorruptState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		saved State
		want  string
	}{
		{"unknown phase", State{Plan: "p", Steps: []StepState{{Name: "a", Phase: "Exploded"}}}, `phase "Exploded" is unknown`},
		{"unknown outcome", State{Plan: "p", Outcome: "Maybe", Steps: []StepState{{Name: "a", Phase: StepDone}}}, `outcome "Maybe" is unknown`},
		{"reverting outside rollback", State{Plan: "p", Steps: []StepState{{Name: "a", Phase: StepReverting}}}, "not rolling back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &callLog{}
			cp := &MemoryCheckpoint{}
			_ = cp.Save(t.Context(), &tc.saved)
			p := &Plan{Name: "p", Steps: asSteps(newSteps(log, "a")), PointOfNoReturn: 1}
			_, err := (&Runner{Checkpoint: cp}).Run(t.Context(), p)
			if !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run error = %v, want ErrCorruptCheckpoint mentioning %q", err, tc.want)
			}
			if calls := log.list(); len(calls) != 0 {
				t.Errorf("calls = %q, want none", calls)
			}
		})
	}
}

func TestRunFinishedStateReturnedAsIs(t *testing.T) {
	t.Parallel()
	for _, o := range []Outcome{OutcomeSucceeded, OutcomeRolledBack, OutcomeFailed} {
		t.Run(string(o), func(t *testing.T) {
			t.Parallel()
			log := &callLog{}
			cp := &MemoryCheckpoint{}
			saved := &State{Plan: "p", Outcome: o, Reason: "earlier run", Steps: []StepState{{Name: "a", Phase: StepPending}}}
			_ = cp.Save(t.Context(), saved)
			ev := &eventLog{}
			p := &Plan{Name: "p", Steps: asSteps(newSteps(log, "a")), PointOfNoReturn: 1}
			st, err := (&Runner{Checkpoint: cp, Observers: []Observer{ev}}).Run(t.Context(), p)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if st.Outcome != o || st.Reason != "earlier run" || st.Steps[0].Phase != StepPending {
				t.Errorf("state = %+v, want the saved one", st)
			}
			if len(log.list()) != 0 || len(ev.marks()) != 0 {
				t.Errorf("calls %q, events %q; want none", log.list(), ev.marks())
			}
		})
	}
}

func TestRunResumeSkipsDoneReappliesApplying(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	cp := &MemoryCheckpoint{}
	_ = cp.Save(t.Context(), &State{Plan: "p", Steps: []StepState{
		{Name: "a", Phase: StepDone}, {Name: "b", Phase: StepApplying}, {Name: "c", Phase: StepPending},
	}})
	p := &Plan{Name: "p", Steps: asSteps(newSteps(log, "a", "b", "c")), PointOfNoReturn: 3, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{Checkpoint: cp}, p)
	if err != nil || st.Outcome != OutcomeSucceeded {
		t.Fatalf("Run = %+v, %v", st, err)
	}
	equalOrFail(t, "calls", log.list(), []string{"apply b", "check b", "apply c", "check c"})
}

func TestRunResumeRollingBack(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	cp := &MemoryCheckpoint{}
	_ = cp.Save(t.Context(), &State{Plan: "p", RollingBack: true, Reason: "why", RollbackReason: "why", Steps: []StepState{
		{Name: "a", Phase: StepDone}, {Name: "b", Phase: StepReverting}, {Name: "c", Phase: StepReverted}, {Name: "d", Phase: StepPending},
	}})
	p := &Plan{Name: "p", Steps: asSteps(newSteps(log, "a", "b", "c", "d")), PointOfNoReturn: 4, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{Checkpoint: cp}, p)
	if err != nil || st.Outcome != OutcomeRolledBack || st.Reason != "why" {
		t.Fatalf("Run = %+v, %v; want RolledBack why", st, err)
	}
	equalOrFail(t, "calls", log.list(), []string{"revert b", "revert a"})
}

func TestRunRevertFailureIsRetriedOnRerun(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	steps := newSteps(log, "a", "b", "c")
	steps[2].check = func(context.Context, int) Result { return Failed("gate") }
	broken := true
	steps[1].revert = func(context.Context, int) error {
		if broken {
			return Permanent(errors.New("member still listed"))
		}
		return nil
	}
	cp := &MemoryCheckpoint{}
	p := &Plan{Name: "p", Steps: asSteps(steps), PointOfNoReturn: 3, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{Checkpoint: cp}, p)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := `step "c": gate failed: gate; rollback failed: step "b": revert: member still listed`
	if st.Outcome != OutcomeFailed || st.Reason != want || !st.RollingBack {
		t.Fatalf("state = %+v, want Failed %q while rolling back", st, want)
	}
	equalOrFail(t, "phases", phases(st), []string{"a=Done", "b=Reverting", "c=Reverted"})
	equalOrFail(t, "calls", log.list(), []string{"apply a", "check a", "apply b", "check b", "apply c", "check c", "revert c", "revert b"})

	broken = false
	st, err = runFake(t.Context(), t, &Runner{Checkpoint: cp}, p)
	if err != nil || st.Outcome != OutcomeRolledBack || st.Reason != `step "c": gate failed: gate` {
		t.Fatalf("rerun = %+v, %v; want RolledBack with the original reason", st, err)
	}
	equalOrFail(t, "phases", phases(st), []string{"a=Reverted", "b=Reverted", "c=Reverted"})
	if log.count("revert c") != 1 || log.count("revert b") != 2 || log.count("revert a") != 1 {
		t.Errorf("calls = %q: want c reverted once, b retried, a once", log.list())
	}
}

// failingCheckpoint fails Save after n successful saves. It is a fake for
// the pure unit under test (the runner's error path), not an integration.
type failingCheckpoint struct {
	MemoryCheckpoint
	n int
}

func (f *failingCheckpoint) Save(ctx context.Context, s *State) error {
	if f.n == 0 {
		return errors.New("disk full")
	}
	f.n--
	return f.MemoryCheckpoint.Save(ctx, s)
}

func TestRunSaveErrorStops(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	// Saves: initial, a Applying, a Done, then b Applying fails.
	cp := &failingCheckpoint{n: 3}
	ev := &eventLog{}
	p := &Plan{Name: "p", Steps: asSteps(newSteps(log, "a", "b")), PointOfNoReturn: 2, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{Checkpoint: cp, Observers: []Observer{ev}}, p)
	if err == nil || !strings.Contains(err.Error(), "save checkpoint: disk full") {
		t.Fatalf("Run error = %v, want the save error", err)
	}
	if st == nil || st.Outcome != OutcomeRunning {
		t.Fatalf("state = %+v, want running", st)
	}
	equalOrFail(t, "calls", log.list(), []string{"apply a", "check a"})
	equalOrFail(t, "events", ev.marks(), []string{"PlanStarted", "StepStarted a", "StepDone a"})
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	p := Permanent(base)
	if !IsPermanent(p) || !errors.Is(p, base) || p.Error() != "boom" {
		t.Errorf("Permanent(boom) = %v: IsPermanent %v, Is(base) %v", p, IsPermanent(p), errors.Is(p, base))
	}
	if wrapped := errors.Join(errors.New("ctx"), p); !IsPermanent(wrapped) {
		t.Errorf("IsPermanent(wrapped) = false")
	}
	if IsPermanent(base) || IsPermanent(nil) || Permanent(nil) != nil {
		t.Errorf("plain errors and nil must not be permanent")
	}
}

// A cancel during a rollback (RollbackOnCancel off) stops with the state
// still RollingBack; a rerun finishes the reverse walk.
func TestRunCancelDuringRollbackResumes(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	steps := newSteps(log, "a", "b", "c")
	steps[2].check = func(context.Context, int) Result { return Failed("gate") }
	steps[1].revert = func(_ context.Context, n int) error {
		if n == 1 {
			cancel()
			return errors.New("interrupted")
		}
		return nil
	}
	cp := &MemoryCheckpoint{}
	p := &Plan{Name: "p", Steps: asSteps(steps), PointOfNoReturn: 3, PollInterval: time.Second}
	st, err := runFake(ctx, t, &Runner{Checkpoint: cp}, p)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `rollback interrupted at step "b"`) {
		t.Fatalf("Run error = %v, want a cancelled rollback at b", err)
	}
	if st.Outcome != OutcomeRunning || !st.RollingBack {
		t.Fatalf("state = %+v, want running and rolling back", st)
	}
	equalOrFail(t, "phases", phases(st), []string{"a=Done", "b=Reverting", "c=Reverted"})

	st, err = runFake(t.Context(), t, &Runner{Checkpoint: cp}, p)
	if err != nil || st.Outcome != OutcomeRolledBack || st.Reason != `step "c": gate failed: gate` {
		t.Fatalf("rerun = %+v, %v; want RolledBack with the original reason", st, err)
	}
	equalOrFail(t, "calls", log.list(), []string{
		"apply a", "check a", "apply b", "check b", "apply c", "check c",
		"revert c", "revert b", "revert b", "revert a",
	})
}

// A Revert that keeps failing transiently ends Failed once the step timeout
// passes, naming both the original failure and the last revert error.
func TestRunRevertTimeout(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	steps := newSteps(log, "a", "b")
	steps[1].check = func(context.Context, int) Result { return Failed("gate") }
	steps[0].revert = func(context.Context, int) error { return errors.New("connection refused") }
	p := &Plan{Name: "p", Steps: asSteps(steps), PointOfNoReturn: 2, StepTimeout: 20 * time.Second, PollInterval: time.Second}
	st, err := runFake(t.Context(), t, &Runner{}, p)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := `step "b": gate failed: gate; rollback failed: step "a": step timed out after 20s (last: revert: connection refused)`
	if st.Outcome != OutcomeFailed || st.Reason != want {
		t.Fatalf("state = %+v, want Failed %q", st, want)
	}
	if n := log.count("revert a"); n < 2 {
		t.Errorf("revert a called %d times, want retries", n)
	}
}
