package scenario

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/migration/controlplane"
	"github.com/handover-dev/handover/internal/migration/controlplane/localcp"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/testenv"
)

// The full cutover on real processes (3+3 embedded etcd members, two real
// kube-apiservers, the DNS server, the probes, kubectl): the plan succeeds,
// the name points at the target, only target members remain, and every
// acknowledged write is present.
func TestHandoverOnRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: two kube-apiservers and six etcd members")
	}
	bin := testenv.RequireBinaries(t, "kube-apiserver", "kubectl")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := Run(ctx, Handover, Options{BinDir: bin, Dir: t.TempDir(), Log: testWriter{t}, KubectlEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if out.Outcome != string(plan.OutcomeSucceeded) {
		t.Fatalf("outcome %s: %s", out.Outcome, out.Reason)
	}
	if !out.DNSFinal.Same(addrs(localcp.TargetAddr)) {
		t.Errorf("record after the move: %v, want the target", out.DNSFinal)
	}
	slices.Sort(out.Members)
	if !slices.Equal(out.Members, []string{"t1", "t2", "t3"}) {
		t.Errorf("members after the move: %v, want t1 t2 t3", out.Members)
	}
	if out.Probe.Acknowledged == 0 || out.Probe.MissingAcknowledged != 0 {
		t.Errorf("acknowledged %d, missing %d: want some acknowledged and none missing", out.Probe.Acknowledged, out.Probe.MissingAcknowledged)
	}
	r := ReportRun(out)
	t.Logf("requests %d failures %d (%v) longest outage %.0f ms; checks %v; metrics %v; kubectl example %q",
		r.Requests, r.Failures, r.FailureClasses, r.LongestOutageMS, r.Checks, r.Metrics, out.KubectlExample)
}

// At 50 ms between the sites (the far-site case) the etcd leader
// moves to a target while the write hold holds every write, so no client
// sees a failure: our probes (fresh connections, a long-lived client-go
// clientset, creates, a watch) and kubectl itself, reading and writing
// (kubectl create configmap) as a cluster admin outside system:masters.
// Before the hold, one write in flight during the transfer failed with
// "etcdserver: request timed out".
func TestHandoverAtSiteLatencyRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: two kube-apiservers, six etcd members, kubectl")
	}
	bin := testenv.RequireBinaries(t, "kube-apiserver", "kubectl")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var told []string
	out, err := Run(ctx, Handover, Options{BinDir: bin, Dir: t.TempDir(), Log: testWriter{t}, SiteLatency: 50 * time.Millisecond,
		OnEndpoints: func(_ context.Context, ch controlplane.EndpointChange) error {
			mu.Lock()
			defer mu.Unlock()
			told = append(told, ch.Kind+" after "+ch.Step)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Outcome != string(plan.OutcomeSucceeded) {
		t.Fatalf("outcome %s: %s", out.Outcome, out.Reason)
	}
	r := ReportRun(out)
	t.Logf("requests %d failures %d (%v, %v); checks %v; metrics %v", r.Requests, r.Failures, r.FailureClasses, r.FailureExamples, r.Checks, r.Metrics)
	if r.Failures != 0 {
		t.Errorf("%d failed probe requests (%v), want 0", r.Failures, r.FailureExamples)
	}
	for _, k := range []string{"missing_acknowledged_writes", "watch_gaps", "kubectl_errors", "kubectl_write_errors"} {
		if r.Checks[k] != 0 {
			t.Errorf("%s = %d, want 0 (%v)", k, r.Checks[k], r.FailureExamples)
		}
	}
	if out.KubectlWrites == 0 || out.KubectlRuns == 0 {
		t.Errorf("kubectl ran %d reads and %d writes, want some of each", out.KubectlRuns, out.KubectlWrites)
	}
	if out.Stats.WriteHold == 0 {
		t.Error("the leader moved without a write hold")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"etcd after promote/t1", "etcd after promote/t3", "apiserver after dns/switch", "etcd after move-leader", "etcd after remove/s3"} {
		if !slices.Contains(told, want) {
			t.Errorf("endpoint hook told %v, missing %q", told, want)
		}
	}
}

// An endpoint hook that refuses the DNS switch (say, the load balancer
// did not follow) rolls the migration back: the record points at the
// source again, the added members are gone, and clients saw nothing fail.
func TestEndpointHookRefusalRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: two kube-apiservers and six etcd members")
	}
	bin := testenv.RequireBinaries(t, "kube-apiserver")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := Run(ctx, Handover, Options{BinDir: bin, Dir: t.TempDir(), Log: testWriter{t}, NoKubectl: true,
		OnEndpoints: func(_ context.Context, ch controlplane.EndpointChange) error {
			if ch.Kind == controlplane.EndpointsAPIServer && !ch.Reverted {
				return errors.New("load balancer still sends to the source")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	checkRolledBack(t, out, "load balancer still sends to the source")
	if r := ReportRun(out); r.Failures != 0 {
		t.Errorf("clients saw %d failures (%v)", r.Failures, r.FailureExamples)
	}
}

// A target apiserver that never gets Ready (its etcd URL serves nothing):
// the start-target gate times out and the plan rolls back — the record
// points at the source again and the added etcd members are gone.
func TestTargetNeverReadyRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a kube-apiserver and six etcd members")
	}
	bin := testenv.RequireBinaries(t, "kube-apiserver")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := Run(ctx, Handover, Options{BinDir: bin, Dir: t.TempDir(), Log: testWriter{t}, NoKubectl: true,
		BreakTarget: true, TargetReadyTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkRolledBack(t, out, "")
	t.Logf("rolled back: %s", out.Reason)
}

// checkRolledBack asserts a rollback whose reason contains reason: the
// record points at the source, only the source members remain, and no
// acknowledged write is missing.
func checkRolledBack(t *testing.T, out *Outcome, reason string) {
	t.Helper()
	if out.Outcome != string(plan.OutcomeRolledBack) || !strings.Contains(out.Reason, reason) {
		t.Fatalf("outcome %s (%s), want RolledBack (reason containing %q)", out.Outcome, out.Reason, reason)
	}
	if !out.DNSFinal.Same(addrs(localcp.SourceAddr)) {
		t.Errorf("record after the rollback: %v, want the source", out.DNSFinal)
	}
	slices.Sort(out.Members)
	if !slices.Equal(out.Members, []string{"s1", "s2", "s3"}) {
		t.Errorf("members after the rollback: %v, want s1 s2 s3", out.Members)
	}
	if out.Probe.MissingAcknowledged != 0 {
		t.Errorf("missing acknowledged writes: %d", out.Probe.MissingAcknowledged)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

func addrs(a ...netip.Addr) []netip.Addr { return a }
