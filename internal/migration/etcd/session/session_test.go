package session

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
)

// TestRunWithProbes migrates 3 embedded members to 3 with writers, readers
// and a watcher running, and requires zero failed requests, zero missing
// acknowledged writes and zero watch gaps.
func TestRunWithProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: embedded etcd migration with probes")
	}
	ctx := context.Background()
	src := &etcdmig.Embedded{BaseDir: t.TempDir()}
	ms, err := src.StartCluster(ctx, "session-test", []string{"s1", "s2", "s3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.ClientURL)
	}
	c, err := etcdmig.Connect(ctx, eps, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	sources, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var targets []etcdmig.Target
	for i := range 3 {
		p, _ := etcdmig.FreeLoopbackURL()
		cl, _ := etcdmig.FreeLoopbackURL()
		targets = append(targets, etcdmig.Target{Name: fmt.Sprintf("t%d", i+1), PeerURL: p, ClientURL: cl})
	}
	dst := &etcdmig.Embedded{BaseDir: t.TempDir()}
	t.Cleanup(dst.Close)
	var log bytes.Buffer
	out, err := Run(ctx, Options{
		Migration: etcdmig.Config{Cluster: c, Sources: sources, Targets: targets, Provisioner: dst,
			PollInterval: 50 * time.Millisecond, DrainDelay: 300 * time.Millisecond},
		ProbeEndpoints: eps, ProbeRate: 100, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.State.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("outcome %s: %s\n%s", out.State.Outcome, out.State.Reason, log.String())
	}
	s := out.Summary
	if s.Requests < 100 || s.Failures != 0 {
		t.Fatalf("requests %d failures %d classes %v examples %v\n%s", s.Requests, s.Failures, s.FailureClasses, s.ClassExamples, log.String())
	}
	if out.Probe.Acknowledged == 0 || out.Probe.MissingAcknowledged != 0 || out.Probe.WatchGaps != 0 || out.Probe.StaleReads != 0 {
		t.Fatalf("probe result %+v", out.Probe)
	}
	if len(out.CatchUps) != 3 {
		t.Fatalf("catch-ups %+v", out.CatchUps)
	}
	for _, want := range []string{"▶ preflight", "✓ remove/s3", "plan ended: Succeeded"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("phase log lacks %q:\n%s", want, log.String())
		}
	}
	t.Logf("requests %d, worst write stall %s, p99 %s", s.Requests, out.Probe.WorstWriteStall, s.Latency.P99)
}

func TestBar(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pct  int
		want string
	}{
		{-5, "[--------------------]"}, {0, "[--------------------]"}, {79, "[###############-----]"}, {100, "[####################]"}, {140, "[####################]"},
	} {
		if got := Bar(tc.pct); got != tc.want {
			t.Errorf("Bar(%d) = %s, want %s", tc.pct, got, tc.want)
		}
	}
}

func TestPhaseAt(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ph := []probe.PhaseSummary{
		{Name: "before", Start: t0, End: t0.Add(time.Second)},
		{Name: "move-leader", Start: t0.Add(time.Second), End: t0.Add(2 * time.Second)},
	}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{
		{-time.Millisecond, ""}, {0, "before"}, {999 * time.Millisecond, "before"}, {time.Second, "move-leader"},
		{2 * time.Second, "move-leader"}, {3 * time.Second, ""},
	} {
		if got := PhaseAt(ph, t0.Add(tc.at)); got != tc.want {
			t.Errorf("PhaseAt(+%s) = %q, want %q", tc.at, got, tc.want)
		}
	}
}
