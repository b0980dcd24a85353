package probe

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/handover-dev/handover/internal/plan"
)

func ev(kind plan.EventKind, step string, atMS int) plan.Event {
	return plan.Event{Time: at(atMS), Plan: "p", Kind: kind, Step: step, Index: -1}
}

// classed returns a failed sample with an explicit class.
func classed(startMS, latMS int, class string) Sample {
	s := bad("", startMS, latMS)
	s.Class = class
	return s
}

// A rolled-back plan's events drive the phases; samples arrive after the
// events that follow them and are still attributed by their Start.
func TestRecorderAttributesSamplesToPlanPhases(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(clocktesting.NewFakePassiveClock(t0))
	for _, e := range []plan.Event{
		ev(plan.EventPlanStarted, "", 100),
		ev(plan.EventStepStarted, "stage-bundle", 100),
		ev(plan.EventStepProgress, "stage-bundle", 150),
		ev(plan.EventStepDone, "stage-bundle", 190),
		ev(plan.EventStepStarted, "swap-leaf", 200),
		ev(plan.EventStepFailed, "swap-leaf", 290),
		ev(plan.EventStepReverting, "swap-leaf", 300),
		ev(plan.EventStepReverted, "swap-leaf", 340),
		ev(plan.EventStepReverting, "stage-bundle", 350),
		ev(plan.EventStepReverted, "stage-bundle", 390),
		{Time: at(400), Plan: "p", Kind: plan.EventPlanEnded, Index: -1, Outcome: plan.OutcomeRolledBack},
	} {
		rec.Observe(e)
	}
	for _, s := range []Sample{
		ok("", 0, 10), ok("", 50, 20), // baseline
		ok("", 100, 10), ok("", 150, 10), // stage-bundle (also after its StepDone)
		ok("", 200, 5), classed(210, 20, ClassUnknownAuthority), classed(240, 30, ClassUnknownAuthority),
		classed(280, 5, ClassBadCertificate),                     // swap-leaf: outage 210..285
		classed(300, 10, ClassUnknownAuthority), ok("", 320, 10), // revert: swap-leaf
		ok("", 360, 10),                  // revert: stage-bundle
		ok("", 400, 10), ok("", 450, 30), // after; the last sample ends at 480
	} {
		rec.Add(s)
	}
	sum := rec.Summary()

	if !sum.Start.Equal(at(0)) || !sum.End.Equal(at(480)) || sum.Outcome != "RolledBack" {
		t.Fatalf("span/outcome = %v..%v %q", sum.Start, sum.End, sum.Outcome)
	}
	if sum.Requests != 13 || sum.Failures != 4 {
		t.Fatalf("requests/failures = %d/%d, want 13/4", sum.Requests, sum.Failures)
	}
	wantClasses := map[string]int64{ClassUnknownAuthority: 3, ClassBadCertificate: 1}
	if fmt.Sprint(sum.FailureClasses) != fmt.Sprint(wantClasses) {
		t.Fatalf("classes = %v, want %v", sum.FailureClasses, wantClasses)
	}
	// 210..310: the failure at 300 continues the run (no success started
	// between), across the phase boundary; per phase it is cut at 300.
	if sum.LongestOutage != ms(100) {
		t.Fatalf("longest outage = %v, want 100ms", sum.LongestOutage)
	}
	if sum.ClassExamples[ClassUnknownAuthority] != errX.Error() {
		t.Fatalf("class examples = %v", sum.ClassExamples)
	}
	type want struct {
		name               string
		start, end         int
		requests, failures int64
		outage             time.Duration
	}
	wants := []want{
		{PhaseBaseline, 0, 100, 2, 0, 0},
		{"stage-bundle", 100, 200, 2, 0, 0},
		{"swap-leaf", 200, 300, 4, 3, ms(75)},
		{"revert: swap-leaf", 300, 350, 2, 1, ms(10)},
		{"revert: stage-bundle", 350, 400, 1, 0, 0},
		{PhaseAfter, 400, 480, 2, 0, 0},
	}
	if len(sum.Phases) != len(wants) {
		t.Fatalf("phases = %+v, want %d", sum.Phases, len(wants))
	}
	for i, w := range wants {
		p := sum.Phases[i]
		if p.Name != w.name || !p.Start.Equal(at(w.start)) || !p.End.Equal(at(w.end)) ||
			p.Requests != w.requests || p.Failures != w.failures || p.LongestOutage != w.outage {
			t.Errorf("phase %d = %s %v..%v %d/%d outage %v, want %+v", i, p.Name,
				p.Start.Sub(t0), p.End.Sub(t0), p.Requests, p.Failures, p.LongestOutage, w)
		}
	}
	// Latency is over the 9 successes: 5,10,10,10,10,10,10,20,30 ms.
	assertNear(t, "p50", sum.Latency.P50, ms(10))
	assertNear(t, "p99", sum.Latency.P99, ms(30))
	assertNear(t, "max", sum.Latency.Max, ms(30))
	// 480ms span → 1ms bins (481: the end instant opens its own bin).
	if sum.BinWidth != time.Millisecond || len(sum.Timeline) != 481 {
		t.Fatalf("timeline: width %v, %d bins", sum.BinWidth, len(sum.Timeline))
	}
	var reqs, fails int64
	for _, b := range sum.Timeline {
		reqs += b.Requests
		fails += b.Failures
	}
	if reqs != sum.Requests || fails != sum.Failures {
		t.Fatalf("timeline totals %d/%d, want %d/%d", reqs, fails, sum.Requests, sum.Failures)
	}
}

// assertNear allows for the HDR histogram's 3 significant digits.
func assertNear(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if d := got - want; d < -want/500 || d > want/500 {
		t.Errorf("%s = %v, want %v (±0.2%%)", what, got, want)
	}
}

func TestRecorderMarkAndZeroEventTime(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakePassiveClock(t0)
	rec := NewRecorder(clk)
	rec.Add(ok("", 0, 1))
	clk.SetTime(at(100))
	rec.Mark("atomic-swap")
	rec.Add(classed(120, 5, ClassConnectionRefused))
	clk.SetTime(at(200))
	rec.Observe(plan.Event{Kind: plan.EventPlanEnded, Outcome: plan.OutcomeSucceeded}) // no Time: the clock's
	rec.Add(ok("", 210, 1))
	rec.Observe(plan.Event{Time: at(205), Kind: plan.EventStepDone, Step: "ignored"})

	sum := rec.Summary()
	var names []string
	for _, p := range sum.Phases {
		names = append(names, fmt.Sprintf("%s@%v:%d", p.Name, p.Start.Sub(t0), p.Failures))
	}
	if got, want := fmt.Sprint(names), "[baseline@0s:0 atomic-swap@100ms:1 after@200ms:0]"; got != want {
		t.Fatalf("phases = %s, want %s", got, want)
	}
	if sum.Outcome != "Succeeded" {
		t.Fatalf("outcome = %q", sum.Outcome)
	}
}

func TestRecorderClassifiesAndIgnoresClassOnSuccess(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(nil)
	s := ok("", 0, 1)
	s.Class = "stale" // ignored: Err is nil
	rec.Add(s)
	rec.Add(Sample{Start: at(1), Err: fmt.Errorf("get: %w", &StatusError{Code: 502, Status: "502 Bad Gateway"})})
	sum := rec.Summary()
	if sum.Failures != 1 || sum.FailureClasses["http 502"] != 1 || len(sum.FailureClasses) != 1 {
		t.Fatalf("summary = %+v", sum)
	}
}

func TestRecorderEmpty(t *testing.T) {
	t.Parallel()
	sum := NewRecorder(nil).Summary()
	if sum.Requests != 0 || !sum.Start.IsZero() || sum.Phases != nil || sum.Timeline != nil || sum.FailureClasses == nil {
		t.Fatalf("empty summary = %+v", sum)
	}
}

func TestRecorderConcurrentUse(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(nil)
	var wg sync.WaitGroup
	const writers, each = 8, 500
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				s := ok(fmt.Sprint("t", w%3), i, 1)
				if i%10 == 0 {
					s.Err = errors.New("x")
				}
				rec.Add(s)
				if i%100 == 0 {
					rec.Observe(ev(plan.EventStepStarted, fmt.Sprint("s", i), i))
					_ = rec.Summary()
				}
			}
		})
	}
	wg.Wait()
	sum := rec.Summary()
	if sum.Requests != writers*each || sum.Failures != writers*each/10 {
		t.Fatalf("requests/failures = %d/%d", sum.Requests, sum.Failures)
	}
	var phaseReqs int64
	for _, p := range sum.Phases {
		phaseReqs += p.Requests
	}
	if phaseReqs != sum.Requests {
		t.Fatalf("phases hold %d requests, want %d", phaseReqs, sum.Requests)
	}
}

// A run of ~100k samples must stay cheap to hold.
func TestRecordIsCompact(t *testing.T) {
	t.Parallel()
	if got := unsafe.Sizeof(rec{}); got != 24 {
		t.Fatalf("rec is %d bytes, want 24", got)
	}
}

func BenchmarkRecorder100k(b *testing.B) {
	for b.Loop() {
		rec := NewRecorder(nil)
		for i := range 100_000 {
			s := ok("", i, 1+i%7)
			if i%97 == 0 {
				s.Err = errX
			}
			rec.Add(s)
			if i%10_000 == 0 {
				rec.Observe(ev(plan.EventStepStarted, fmt.Sprint("step-", i), i))
			}
		}
		_ = rec.Summary()
	}
}

// Distinct targets beyond the cap share one overflow series; nothing is lost.
func TestRecorderBoundsDistinctTargets(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(nil)
	n := maxDistinct + 10
	for i := range n {
		s := bad(fmt.Sprint("target-", i), i, 1)
		rec.Add(s)
	}
	if len(rec.targets) != maxDistinct || rec.targets[maxDistinct-1] != OverflowTarget {
		t.Fatalf("kept %d targets, last %q; want %d ending with %q", len(rec.targets), rec.targets[len(rec.targets)-1], maxDistinct, OverflowTarget)
	}
	sum := rec.Summary()
	// The overflow series holds 11 consecutive failures at 1ms spacing.
	if sum.Requests != int64(n) || sum.LongestOutageTarget != OverflowTarget || sum.LongestOutage != ms(11) {
		t.Fatalf("summary: %d requests, outage %v on %q", sum.Requests, sum.LongestOutage, sum.LongestOutageTarget)
	}
}

func TestRecorderLastFailure(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(nil)
	if sum := rec.Summary(); !sum.LastFailure.IsZero() {
		t.Fatalf("LastFailure %s with no sample", sum.LastFailure)
	}
	rec.Add(ok("a", 0, 1))
	if sum := rec.Summary(); !sum.LastFailure.IsZero() {
		t.Fatalf("LastFailure %s with no failed sample", sum.LastFailure)
	}
	rec.Add(bad("a", 10, 5))
	rec.Add(bad("b", 12, 1)) // starts later, ends earlier
	rec.Add(ok("a", 30, 1))
	if sum := rec.Summary(); !sum.LastFailure.Equal(at(15)) {
		t.Fatalf("LastFailure %s, want the latest failed end %s", sum.LastFailure, at(15))
	}
}
