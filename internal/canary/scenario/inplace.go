package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/report"
)

// inPlace: v2 replaces v1 the usual way (stop v1, start v2). Its orphan
// cleanup deletes every child it did not create; its reconciles create them
// again. Metrics: children_deleted, children_total, recovered_ms (replace →
// first sweep with every child correct after the last delete; absent if
// that never happened within 2 min).
func (e *env) inPlace(ctx context.Context) (report.Run, error) {
	ns := RunInPlace
	v1, err := e.prepare(ctx, ns)
	if err != nil {
		return report.Run{}, err
	}
	rec := probe.NewRecorder(nil)
	cp := &ChildProbe{Client: e.admin, Namespace: ns, Interval: e.o.SweepInterval, Sink: rec}
	pctx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); cp.Run(pctx) }()
	rec.Mark("v1")
	time.Sleep(time.Second)

	logf(e.o.Log, "%s: replacing v1 with v2", ns)
	rec.Mark("v2 replaces v1")
	if err := v1.Stop(); err != nil {
		stopProbe()
		return report.Run{}, fmt.Errorf("stop v1: %w", err)
	}
	tr := newTracker()
	replaced := time.Now()
	v2, err := StartController(ctx, e.o.Admin, e.scheme, sample.V2, ns, e.o.CleanupInterval, tr.write)
	if err != nil {
		stopProbe()
		return report.Run{}, err
	}
	deadline := replaced.Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, last := tr.deletes(sample.V2)
		s := cp.Last()
		if n > 0 && time.Since(last) > 3*e.o.CleanupInterval && s.At.After(last) && s.Correct == s.Routes {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	rec.Mark("after")
	time.Sleep(2 * e.o.SweepInterval)
	stopProbe()
	<-probeDone
	stopErr := v2.Stop()
	deleted, last := tr.deletes(sample.V2)
	run := report.NewRun(RunInPlace, Kind, rec.Summary())
	run.Metrics = map[string]float64{"children_deleted": float64(deleted), "children_total": float64(e.o.Routes)}
	if at, ok := cp.FirstAllCorrectAfter(last); ok && deleted > 0 {
		run.Metrics["recovered_ms"] = msSince(replaced, at)
	}
	logf(e.o.Log, "%s: v2 deleted %d of %d children", ns, deleted, e.o.Routes)
	return run, stopErr
}
