package scenario

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

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
	if out.Outcome != string(plan.OutcomeRolledBack) {
		t.Fatalf("outcome %s (%s), want RolledBack", out.Outcome, out.Reason)
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
	t.Logf("rolled back: %s", out.Reason)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

func addrs(a ...netip.Addr) []netip.Addr { return a }
