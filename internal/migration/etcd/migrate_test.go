package etcd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/handover-dev/handover/internal/plan"
)

// testCluster starts n embedded source members under t.TempDir and returns
// the provisioner running them and a connected Cluster.
func testCluster(t *testing.T, n int) (*Embedded, []Target, *Cluster) {
	t.Helper()
	ctx := context.Background()
	src := &Embedded{BaseDir: t.TempDir()}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("s%d", i+1)
	}
	ts, err := src.StartCluster(ctx, "test-"+t.Name(), names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	var eps []string
	for _, m := range ts {
		eps = append(eps, m.ClientURL)
	}
	c, err := Connect(ctx, eps, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return src, ts, c
}

func freeTargets(t *testing.T, n int) []Target {
	t.Helper()
	urls, err := FreeLoopbackURLs(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Target, n)
	for i := range out {
		out[i] = Target{Name: fmt.Sprintf("t%d", i+1), PeerURL: urls[2*i], ClientURL: urls[2*i+1]}
	}
	return out
}

// load writes n keys of size bytes under "data/" and returns the revision.
func load(t *testing.T, c *Cluster, n, size int) {
	t.Helper()
	val := strings.Repeat("x", size)
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Client().Put(ctx, fmt.Sprintf("data/%06d", i), val)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// countKeys counts "data/" keys through a client connected only to eps.
func countKeys(t *testing.T, eps []string) int64 {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "data/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

func memberNames(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s learner=%v %v", m.Name, m.IsLearner, m.PeerURLs))
	}
	slices.Sort(out)
	return out
}

func runMigration(t *testing.T, nSrc, nTgt int) {
	ctx := context.Background()
	_, _, c := testCluster(t, nSrc)
	load(t, c, 200, 1024)
	sources, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	targets := freeTargets(t, nTgt)
	dst := &Embedded{BaseDir: t.TempDir()}
	t.Cleanup(dst.Close)
	var lasting [][]string
	leaving := map[string]bool{}
	transient := 0
	stats := &Stats{}
	p, err := NewPlan(Config{Cluster: c, Sources: sources, Targets: targets, Provisioner: dst,
		PollInterval: 50 * time.Millisecond, DrainDelay: 100 * time.Millisecond, Stats: stats,
		OnEndpoints: func(_ context.Context, ch EndpointChange) error {
			switch {
			case ch.Kind != EndpointsEtcd:
				t.Errorf("change %s: kind %q", ch, ch.Kind)
			case ch.Transient:
				transient++
			default:
				lasting = append(lasting, ch.Endpoints)
			}
			if ch.Leaving != nil {
				if len(ch.Leaving.ClientURLs) > 0 && slices.Contains(ch.Endpoints, ch.Leaving.ClientURLs[0]) {
					t.Errorf("change %s still lists the leaving member", ch)
				}
				leaving[ch.Leaving.Name] = true
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	r := plan.Runner{Observers: []plan.Observer{plan.ObserverFunc(func(e plan.Event) {
		if e.Kind == plan.EventStepFailed || e.Kind == plan.EventPlanEnded {
			events = append(events, fmt.Sprintf("%s %s %s", e.Kind, e.Step, e.Reason))
		}
	})}}
	st, err := r.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("outcome %s: %s\n%s", st.Outcome, st.Reason, strings.Join(events, "\n"))
	}
	ms, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var eps []string
	for _, tg := range targets {
		want = append(want, fmt.Sprintf("%s learner=false [%s]", tg.Name, tg.PeerURL))
		eps = append(eps, tg.ClientURL)
	}
	slices.Sort(want)
	if got := memberNames(ms); !slices.Equal(got, want) {
		t.Fatalf("members after migration:\n%q\nwant\n%q", got, want)
	}
	if n := countKeys(t, eps); n != 200 {
		t.Fatalf("targets hold %d data keys, want 200", n)
	}
	if _, err := VerifyHash(ctx, c, ms); err != nil {
		t.Fatal(err)
	}
	if got := len(stats.CatchUps()); got != nTgt {
		t.Errorf("%d catch-ups measured, want %d", got, nTgt)
	}
	// The last endpoint list handed to clients is the targets' only; each
	// source was announced as leaving before its removal, and verify
	// steered the clients off each member it hashed.
	last := lasting[len(lasting)-1]
	slices.Sort(last)
	slices.Sort(eps)
	if !slices.Equal(last, eps) {
		t.Errorf("last OnEndpoints = %v, want %v", last, eps)
	}
	for _, s := range sources {
		if !leaving[s.Name] {
			t.Errorf("source %s was removed without a change announcing it (Leaving)", s.Name)
		}
	}
	if transient == 0 {
		t.Error("no transient change: verify did not steer the clients off the members it hashed")
	}
}

func TestMigrate3to3(t *testing.T) { runMigration(t, 3, 3) }

func TestMigrate1to3(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: embedded etcd migration")
	}
	runMigration(t, 1, 3)
}

// neverStarts adds the member but never runs it: the learner cannot catch up.
type neverStarts struct{ *Embedded }

func (neverStarts) Start(context.Context, MemberSpec) error { return nil }

// rollbackSetup starts 3 source members holding keys data keys of size
// bytes and returns their cluster, members and client URLs, nTgt free
// targets and an embedded provisioner for them (closed at cleanup).
func rollbackSetup(t *testing.T, keys, size, nTgt int) (c *Cluster, before []Member, srcURLs []string, targets []Target, dst *Embedded) {
	t.Helper()
	_, srcTargets, c := testCluster(t, 3)
	load(t, c, keys, size)
	before, err := c.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcTargets {
		srcURLs = append(srcURLs, s.ClientURL)
	}
	dst = &Embedded{BaseDir: t.TempDir()}
	t.Cleanup(dst.Close)
	return c, before, srcURLs, freeTargets(t, nTgt), dst
}

func TestMigrateRollbackWhenTargetNeverCatchesUp(t *testing.T) {
	ctx := context.Background()
	c, before, eps, targets, dst := rollbackSetup(t, 100, 512, 2)
	p, err := NewPlan(Config{Cluster: c, Sources: before, Targets: targets, Provisioner: neverStarts{dst},
		PollInterval: 50 * time.Millisecond, CatchUpTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&plan.Runner{}).Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeRolledBack || !strings.Contains(st.Reason, "catch-up/t1") {
		t.Fatalf("outcome %s (%s), want RolledBack at catch-up/t1", st.Outcome, st.Reason)
	}
	after, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(memberNames(after), memberNames(before)) {
		t.Fatalf("membership after rollback %q, want %q", memberNames(after), memberNames(before))
	}
	if n := countKeys(t, eps); n != 100 {
		t.Fatalf("%d data keys after rollback, want 100", n)
	}
	// The cluster still takes writes.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Client().Put(wctx, "after-rollback", "ok"); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateAbortRollsBack: Ctrl-C (ctx cancelled) during a catch-up with
// RollbackOnCancel removes the added learner and stops it.
func TestMigrateAbortRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: embedded etcd")
	}
	_, _, c := testCluster(t, 3)
	bg := context.Background()
	before, err := c.Members(bg)
	if err != nil {
		t.Fatal(err)
	}
	dst := &Embedded{BaseDir: t.TempDir()}
	t.Cleanup(dst.Close)
	p, err := NewPlan(Config{Cluster: c, Sources: before, Targets: freeTargets(t, 1), Provisioner: neverStarts{dst},
		PollInterval: 50 * time.Millisecond, CatchUpTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	r := plan.Runner{RollbackOnCancel: true, Observers: []plan.Observer{plan.ObserverFunc(func(e plan.Event) {
		if e.Kind == plan.EventStepProgress && e.Step == "catch-up/t1" {
			cancel()
		}
	})}}
	st, err := r.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeRolledBack || st.Reason != "aborted" {
		t.Fatalf("outcome %s %q, want RolledBack aborted", st.Outcome, st.Reason)
	}
	after, err := c.Members(bg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(memberNames(after), memberNames(before)) {
		t.Fatalf("membership after abort %q, want %q", memberNames(after), memberNames(before))
	}
}
