package plan

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestElapsed(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		now    time.Time
		since  time.Time
		d      time.Duration
		want   CheckState
		reason string
	}{
		{"no wait", t0, t0, 0, CheckDone, ""},
		{"negative wait", t0, t0, -time.Second, CheckDone, ""},
		{"just published", t0, t0, 90 * time.Second, CheckNotYet, "waiting for propagation until 2026-01-02T03:05:35Z (1m30s after 2026-01-02T03:04:05Z)"},
		{"same reason later", t0.Add(45 * time.Second), t0, 90 * time.Second, CheckNotYet, "waiting for propagation until 2026-01-02T03:05:35Z (1m30s after 2026-01-02T03:04:05Z)"},
		{"one ns left", t0.Add(90*time.Second - 1), t0, 90 * time.Second, CheckNotYet, "waiting for propagation until 2026-01-02T03:05:35Z (1m30s after 2026-01-02T03:04:05Z)"},
		{"exactly due", t0.Add(90 * time.Second), t0, 90 * time.Second, CheckDone, ""},
		{"past due", t0.Add(time.Hour), t0, 90 * time.Second, CheckDone, ""},
		{"start unknown", t0, time.Time{}, time.Second, CheckNotYet, "waiting for propagation: its start is not recorded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Elapsed(tc.now, tc.since, tc.d, "propagation")
			if got.State != tc.want || got.Reason != tc.reason {
				t.Fatalf("Elapsed = %+v, want %s %q", got, tc.want, tc.reason)
			}
		})
	}
}

func TestAppliedAtOutsideRunner(t *testing.T) {
	t.Parallel()
	if _, ok := AppliedAt(context.Background()); ok {
		t.Fatal("AppliedAt outside a Check reported a time")
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got, ok := AppliedAt(withAppliedAt(context.Background(), t0)); !ok || !got.Equal(t0) {
		t.Fatalf("AppliedAt = %v, %v", got, ok)
	}
}

// TestRunResumesWaitFromAppliedAt: a step whose gate waits 10 min from its
// persisted AppliedAt is interrupted after 6 min; the resumed run re-applies
// it, keeps AppliedAt, and its gate passes 10 min after the first Apply,
// not 10 min after the resume.
func TestRunResumesWaitFromAppliedAt(t *testing.T) {
	t.Parallel()
	fc := clocktesting.NewFakeClock(t0)
	log := &callLog{}
	var applySaw []bool
	ts := &testStep{name: "wait", log: log, check: func(ctx context.Context, _ int) Result {
		at, _ := AppliedAt(ctx)
		return Elapsed(fc.Now(), at, 10*time.Minute, "grace")
	}, apply: func(ctx context.Context, _ int) error {
		_, ok := AppliedAt(ctx)
		applySaw = append(applySaw, ok)
		return nil
	}}
	p := &Plan{Name: "w", Steps: []Step{ts}, PointOfNoReturn: 1, StepTimeout: time.Hour, PollInterval: 10 * time.Second}
	cp := &MemoryCheckpoint{}
	ctx, cancel := context.WithCancel(t.Context())
	stopAt := t0.Add(6 * time.Minute)
	interrupt := func() bool {
		if fc.Now().Before(stopAt) {
			return false
		}
		cancel()
		return true
	}
	if _, err := runOnClock(ctx, t, &Runner{Checkpoint: cp}, p, fc, interrupt); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	saved, _ := cp.Load(t.Context())
	if !saved.Steps[0].AppliedAt.Equal(t0) || saved.Steps[0].Phase != StepApplying {
		t.Fatalf("checkpoint after the interruption: %+v, want Applying with AppliedAt %s", saved.Steps[0], t0)
	}
	st, err := runOnClock(t.Context(), t, &Runner{Checkpoint: cp}, p, fc, nil)
	if err != nil || st.Outcome != OutcomeSucceeded {
		t.Fatalf("resumed run: %+v, %v", st, err)
	}
	if log.count("apply wait") != 2 {
		t.Fatalf("apply called %d times, want 2 (once per run)", log.count("apply wait"))
	}
	if len(applySaw) != 2 || applySaw[0] || !applySaw[1] {
		t.Fatalf("AppliedAt visible to Apply: %v, want [false true] (only the resumed re-apply sees it)", applySaw)
	}
	if got := st.Steps[0].AppliedAt; !got.Equal(t0) {
		t.Fatalf("AppliedAt %s after the resume, want the first apply's %s", got, t0)
	}
	if done := st.Steps[0].UpdatedAt.Sub(t0); done > 10*time.Minute+10*time.Second {
		t.Fatalf("the gate passed %s after the first apply: the resume restarted the 10 min wait", done)
	}
}
