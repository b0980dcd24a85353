package report

import (
	"errors"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// hostileName checks that labels are escaped in every output.
const hostileName = `<script>alert("x")</script> & co`

// fixture is a fixed synthetic report of two runs of 10 s each at 50
// attempts/s: "staged" never fails; "atomic" fails for 1.5 s during its
// swap (unknown authority, then a few bad certificate), with latency rising.
func fixture() *Report {
	staged := record(func(rec *probe.Recorder, at func(ms int) time.Time) {
		steps := []struct {
			ms   int
			name string
		}{{1000, "stage-bundle"}, {4000, "swap-leaves"}, {7000, hostileName}}
		for _, s := range steps {
			rec.Observe(plan.Event{Time: at(s.ms), Kind: plan.EventStepStarted, Step: s.name})
		}
		rec.Observe(plan.Event{Time: at(9000), Kind: plan.EventPlanEnded, Outcome: plan.OutcomeSucceeded})
		for i := range 500 {
			ms := i * 20
			rec.Add(probe.Sample{Start: at(ms), Latency: time.Duration(2000+(i%7)*150) * time.Microsecond})
		}
	})
	atomic := record(func(rec *probe.Recorder, at func(ms int) time.Time) {
		rec.Observe(plan.Event{Time: at(3000), Kind: plan.EventStepStarted, Step: "atomic-swap"})
		rec.Observe(plan.Event{Time: at(6000), Kind: plan.EventPlanEnded, Outcome: plan.OutcomeSucceeded})
		unknown := errors.New("x509: certificate signed by unknown authority")
		badCert := errors.New("remote error: tls: bad certificate")
		for i := range 500 {
			ms := i * 20
			s := probe.Sample{Target: "server-2", Start: at(ms), Latency: time.Duration(2000+(i%5)*300) * time.Microsecond}
			switch {
			case ms >= 3200 && ms < 4400:
				s.Err, s.Class, s.Latency = unknown, probe.ClassUnknownAuthority, time.Millisecond
			case ms >= 4400 && ms < 4700:
				s.Err, s.Class, s.Latency = badCert, probe.ClassBadCertificate, time.Millisecond
			case ms >= 4700 && ms < 6000:
				s.Latency *= 3
			}
			rec.Add(s)
		}
	})
	runs := []Run{NewRun("staged", "trust-rotation", staged), NewRun("atomic", "trust-rotation", atomic)}
	runs[0].PointOfNoReturn = "swap-leaves"
	runs[0].Metrics = map[string]float64{"floor_ms": 2.5}
	runs[0].Checks = map[string]int64{"missing_acknowledged_writes": 0}
	runs[1].Metrics = map[string]float64{"floor_ms": 2.5}
	runs[1].Checks = map[string]int64{"missing_acknowledged_writes": 0}
	r := NewAt(t0.Add(time.Minute), runs...)
	r.Tool = Tool{Name: "handover", Version: "v0.0.0-test", Commit: "abc1234", GoVersion: "go1.26"}
	return r
}

func record(fill func(rec *probe.Recorder, at func(ms int) time.Time)) probe.Summary {
	rec := probe.NewRecorder(clocktesting.NewFakePassiveClock(t0))
	fill(rec, func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) })
	return rec.Summary()
}
