package scenario

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/report"
)

// RunShadowBad is the shadow run of the demo: v2 (the orphan-cleanup bug)
// in a shadow step, before it owns anything.
const RunShadowBad = "shadow-bad"

// DefaultShadowDuration is shadow-bad's spec.shadow.duration, the longest
// it runs: the run ends the wait as soon as the record holds a would-be
// delete of every child (endWhenSeen), which takes one orphan-cleanup round
// of v2 (about a minute of denied deletes at 17/s on a loaded 2-core
// machine, a few seconds on an idle one).
const DefaultShadowDuration = 3 * time.Minute

// shadowResult is what a run with a shadow step measured.
type shadowResult struct {
	log *canary.ShadowLog

	requests atomic.Int64 // every request the canary's process sent

	mu           sync.Mutex
	start, end   time.Time
	reqAtStart   int64
	reqAtEnd     int64
	attemptsAtEn int64
}

// count returns a copy of cfg whose transport counts every request (the
// canary's identity is added by StartController's impersonation on top:
// the count is what the apiserver receives from that identity).
func (s *shadowResult) count(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			s.requests.Add(1)
			return rt.RoundTrip(r)
		})
	})
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// observe marks the shadow step's start and end (done or failed).
func (s *shadowResult) observe(ev plan.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Kind {
	case plan.EventStepStarted:
		s.start, s.reqAtStart = ev.Time, s.requests.Load()
	case plan.EventStepDone, plan.EventStepFailed:
		if s.end.IsZero() {
			s.end, s.reqAtEnd = ev.Time, s.requests.Load()
			s.attemptsAtEn = s.log.Snapshot().Attempts
		}
	}
}

// rates returns the canary's requests per second and denied writes per
// second over the shadow step, and its length in seconds (0s when the step
// never ended).
func (s *shadowResult) rates() (reqPerS, deniedPerS, seconds float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.start.IsZero() || s.end.IsZero() || !s.end.After(s.start) {
		return 0, 0, 0
	}
	seconds = s.end.Sub(s.start).Seconds()
	return float64(s.reqAtEnd-s.reqAtStart) / seconds, float64(s.attemptsAtEn) / seconds, seconds
}

// shadowBad: v2 as a canary with a shadow step before its first step and
// analysis.maxShadowDeletes 0. The shadow denies and records every write;
// v2's cleanup tries to delete every child; the gate fails, the plan rolls
// back and v2 never owns anything. Checks: children_deleted (0). Metrics:
// shadow_deletes (distinct children v2 tried to delete ≈ every child),
// shadow_attempts, shadow_dropped, canary_requests_per_s and
// denied_writes_per_s (what the denied, retrying controller costs the
// apiserver during the shadow), shadow_s.
func (e *env) shadowBad(ctx context.Context) (report.Run, error) {
	steps := []v1alpha1.CanaryStep{{Weight: 5}, {Weight: 100}}
	// Routes ≤ 20,000 (the demo's flag): twice that fits an int32 and
	// spec.shadow.maxObjects' maximum of 100,000.
	maxObjects := int32(min(max(e.o.Routes*2, canary.DefaultShadowMaxObjects), 100000))
	shadow := &v1alpha1.CanaryShadow{Duration: &metav1.Duration{Duration: e.o.ShadowDuration}, MaxObjects: maxObjects}
	res, run, err := e.runCanary(ctx, canaryCase{name: RunShadowBad, version: sample.V2, steps: steps, shadow: shadow,
		analysis: v1alpha1.CanaryAnalysis{MaxShadowDeletes: ptr.To[int32](0)}})
	if err != nil {
		return run, err
	}
	rec := res.shadow.log.Snapshot()
	_, updates, deletes := rec.Totals()
	reqPerS, deniedPerS, secs := res.shadow.rates()
	run.Checks = map[string]int64{"children_deleted": int64(res.deleted)}
	run.Metrics = map[string]float64{
		"children_total":        float64(e.o.Routes),
		"shadow_deletes":        float64(deletes),
		"shadow_updates":        float64(updates),
		"shadow_attempts":       float64(rec.Attempts),
		"shadow_dropped":        float64(rec.Dropped),
		"shadow_s":              secs,
		"canary_requests_per_s": reqPerS,
		"denied_writes_per_s":   deniedPerS,
	}
	logf(e.o.Log, "%s: v2 deleted %d children; the shadow recorded %d would-be deletes (%d attempts) in %.1f s; v2 sent %.0f requests/s, %.0f denied writes/s; outcome %s",
		RunShadowBad, res.deleted, deletes, rec.Attempts, secs, reqPerS, deniedPerS, run.Outcome)
	if e.o.OnShadow != nil {
		e.o.OnShadow(RunShadowBad, rec)
	}
	return run, nil
}

// shadowVerdict checks shadow-bad's promises: nothing deleted, ≥ 90 % of
// the children recorded as would-be deletes, rolled back.
func shadowVerdict(r report.Run) []error {
	var bad []error
	if r.Checks["children_deleted"] != 0 {
		bad = append(bad, fmt.Errorf("%s: %d children deleted, want 0", RunShadowBad, r.Checks["children_deleted"]))
	}
	if r.Metrics["shadow_deletes"] < 0.9*r.Metrics["children_total"] {
		bad = append(bad, fmt.Errorf("%s: the shadow recorded %.0f would-be deletes of %.0f children; the bug did not show", RunShadowBad, r.Metrics["shadow_deletes"], r.Metrics["children_total"]))
	}
	if r.Outcome != string(plan.OutcomeRolledBack) {
		bad = append(bad, fmt.Errorf("%s: outcome %q, want RolledBack", RunShadowBad, r.Outcome))
	}
	return bad
}

// endWhenSeen ends the shadow's wait (the promote annotation, as `handover
// canary promote` writes it) once the record holds a would-be delete of
// every one of the children, or returns when ctx ends: on a slow machine
// one orphan-cleanup round of denied deletes takes longer than on a fast
// one, and the run should judge a complete round either way.
func (s *shadowResult) endWhenSeen(ctx context.Context, c client.Client, name string, children int, log io.Writer) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, _, d := s.log.Snapshot().Totals(); d < int64(children) {
			continue
		}
		logf(log, "%s: the shadow saw a would-be delete of every child; ending its wait (handover canary promote %s)", name, name)
		cc := &v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: name}}
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AnnotationPromote)
		if err := c.Patch(ctx, cc, client.RawPatch("application/merge-patch+json", patch)); err != nil {
			logf(log, "%s: end the shadow's wait: %v", name, err)
		}
		return
	}
}
