package rotation_test

import (
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/fleet"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

const propagation = 200 * time.Millisecond

type tally struct {
	mu      sync.Mutex
	ok      int
	failed  map[string]int
	targets map[string]bool
}

func (s *tally) Add(smp probe.Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed, s.targets = map[string]int{}, map[string]bool{}
	}
	s.targets[smp.Target] = true
	if smp.OK() {
		s.ok++
		return
	}
	s.failed[smp.Class]++
}

func (s *tally) failures() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.failed {
		n += v
	}
	return n, s.failed
}

func newCA(t *testing.T, name string) *trust.CA {
	t.Helper()
	ca, err := trust.NewCA(trust.CAOptions{CommonName: name}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// smallFleet: 3 servers (one load-once with 2 replicas), 2 clients (one
// load-once), mounts updated within 200ms.
func smallFleet(t *testing.T, old *trust.CA) (*fleet.Fleet, *tally) {
	t.Helper()
	return startFleet(t, old, fleet.Config{Servers: 3, Clients: 2, LoadOnceServers: 1, LoadOnceClients: 1})
}

// startFleet starts a fleet of shape (Servers, Clients and their load-once
// counts from shape) with the tests' timings, its pods trusting old.
func startFleet(t *testing.T, old *trust.CA, shape fleet.Config) (*fleet.Fleet, *tally) {
	t.Helper()
	sink := &tally{}
	f, err := fleet.Start(t.Context(), fleet.Config{
		Dir: t.TempDir(), Servers: shape.Servers, Clients: shape.Clients,
		LoadOnceServers: shape.LoadOnceServers, LoadOnceClients: shape.LoadOnceClients,
		Propagation: propagation, Startup: 50 * time.Millisecond, Seed: 7, Sink: sink,
		RatePerClient: 200,
	}, old.CertPEM, rotation.Issuer(old, time.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f, sink
}

func build(t *testing.T, s rotation.Strategy, f *fleet.Fleet, old, next *trust.CA, stepTimeout time.Duration) *rotation.Rotation {
	t.Helper()
	r, err := rotation.Build(s, rotation.Spec{
		Backend: f, Old: old, New: next, Propagation: propagation,
		Grace: 50 * time.Millisecond, StepTimeout: stepTimeout, PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStagedRotatesWithoutFailedHandshakes(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, sink := smallFleet(t, old)
	r := build(t, rotation.StrategyStaged, f, old, next, time.Minute)
	var progress []string
	runner := &plan.Runner{Observers: []plan.Observer{plan.ObserverFunc(func(e plan.Event) {
		if e.Kind == plan.EventStepProgress {
			progress = append(progress, e.Reason)
		}
	})}}
	runSucceedsWithoutFailures(t, runner, r, sink)
	newRoots := x509.NewCertPool()
	newRoots.AddCert(next.Cert)
	probeNew, err := rotation.ProbeLeaf(next, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	probeOld, err := rotation.ProbeLeaf(old, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := f.Consumers(t.Context())
	for _, c := range cs {
		if err := f.VerifyPresentsLeafFrom(t.Context(), c, newRoots, probeNew); err != nil {
			t.Errorf("%s after rotation: %v", c.Name, err)
		}
		if err := f.VerifyAcceptsCA(t.Context(), c, probeOld); !errors.Is(err, rotation.ErrRejected) {
			t.Errorf("%s still trusts the old CA after rotation: %v", c.Name, err)
		}
	}
	if r.RestartTime() <= 0 || r.Floor() < 3*propagation {
		t.Errorf("restart time %v, floor %v: load-once consumers were not restarted", r.RestartTime(), r.Floor())
	}
	t.Logf("gate progress seen: %q", progress)
}

// A consumer that never picks up the new bundle blocks the plan before the
// point of no return: the plan rolls back and nobody fails a handshake.
func TestStagedRollsBackWhenAConsumerNeverTrustsTheNewCA(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, sink := smallFleet(t, old)
	if err := f.Freeze("server-2"); err != nil {
		t.Fatal(err)
	}
	r := build(t, rotation.StrategyStaged, f, old, next, 2*time.Second)
	st, err := (&plan.Runner{}).Run(t.Context(), r.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeRolledBack {
		t.Fatalf("outcome %s (%s), want RolledBack", st.Outcome, st.Reason)
	}
	for _, s := range st.Steps {
		if s.Name == rotation.StepSwitchLeaves && s.Phase != plan.StepPending {
			t.Fatalf("leaves were switched (%s) although a consumer never trusted the new CA", s.Phase)
		}
	}
	time.Sleep(3 * propagation) // the reverted bundle reaches every mount
	if n, classes := sink.failures(); n != 0 {
		t.Fatalf("rollback failed %d handshakes: %v", n, classes)
	}
	oldRoots := x509.NewCertPool()
	oldRoots.AddCert(old.Cert)
	probeOld, err := rotation.ProbeLeaf(old, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := f.Consumers(t.Context())
	for _, c := range cs {
		if err := f.VerifyPresentsLeafFrom(t.Context(), c, oldRoots, probeOld); err != nil {
			t.Errorf("%s after rollback: %v", c.Name, err)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.ok == 0 || len(sink.targets) != 3 {
		t.Fatalf("fleet did not keep serving every server: ok=%d targets=%v", sink.ok, sink.targets)
	}
}

// A load-once consumer whose mount lags past the propagation bound is
// restarted with the old bundle; the step restarts it again once its mount
// changed instead of giving up, and nobody fails a handshake.
func TestStagedRestartsALaggingLoadOnceConsumerAgain(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, sink := smallFleet(t, old)
	if err := f.Freeze("server-0"); err != nil { // the load-once server
		t.Fatal(err)
	}
	r := build(t, rotation.StrategyStaged, f, old, next, time.Minute)
	runner := &plan.Runner{Observers: []plan.Observer{plan.ObserverFunc(func(e plan.Event) {
		if e.Kind == plan.EventStepStarted && e.Step == rotation.StepTrustNewCA {
			go func() {
				time.Sleep(time.Second) // several restarts of a stale replica set
				if err := f.Unfreeze("server-0"); err != nil {
					t.Error(err)
				}
			}()
		}
	})}}
	st, err := runner.Run(t.Context(), r.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("outcome %s: %s", st.Outcome, st.Reason)
	}
	if n, classes := sink.failures(); n != 0 {
		t.Fatalf("%d failed handshakes: %v", n, classes)
	}
	if r.RestartTime() <= 0 {
		t.Fatal("no restart recorded")
	}
}

// The old certgen breaks mTLS: leaves and trust change at once, and a
// load-once server restarted before its mount changed never trusts the new CA.
func TestAtomicBreaksHandshakes(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, sink := smallFleet(t, old)
	r := build(t, rotation.StrategyAtomic, f, old, next, time.Minute)
	st, err := (&plan.Runner{}).Run(t.Context(), r.Plan)
	if err != nil || st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("atomic plan: %v %+v", err, st)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := sink.failures(); n > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	n, classes := sink.failures()
	if n == 0 {
		t.Fatal("atomic rotation failed no handshake")
	}
	t.Logf("atomic: %d failed handshakes %v", n, classes)
	if r.Floor() != 0 {
		t.Errorf("atomic floor = %v, want 0 (it does not wait)", r.Floor())
	}
}

func TestBuildRejectsBadSpec(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, _ := smallFleet(t, old)
	for name, spec := range map[string]rotation.Spec{
		"nil backend":  {Old: old, New: next},
		"no new CA":    {Backend: f, Old: old},
		"same CA":      {Backend: f, Old: old, New: old},
		"negative lag": {Backend: f, Old: old, New: next, Propagation: -1},
	} {
		if _, err := rotation.Build(rotation.StrategyStaged, spec); !errors.Is(err, rotation.ErrInvalidSpec) {
			t.Errorf("%s: Build = %v, want ErrInvalidSpec", name, err)
		}
	}
	if _, err := rotation.Build("yolo", rotation.Spec{Backend: f, Old: old, New: next}); !errors.Is(err, rotation.ErrUnknownStrategy) {
		t.Errorf("Build(yolo) = %v", err)
	}
}

// With every consumer load-once, the first gate has no hot consumer to
// verify: that is not a failure (the load-once ones are verified after their
// restart in the next step), and the rotation must complete without a failed
// handshake. Found by the operator e2e, where it rolled back every time.
func TestStagedRotatesAFleetWithOnlyLoadOnceConsumers(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, sink := startFleet(t, old, fleet.Config{Servers: 2, Clients: 1, LoadOnceServers: 2, LoadOnceClients: 1})
	r := build(t, rotation.StrategyStaged, f, old, next, time.Minute)
	runSucceedsWithoutFailures(t, &plan.Runner{}, r, sink)
}

// runSucceedsWithoutFailures runs r's plan, requires it to succeed, lets the
// clients run on the final state for two propagation delays, and requires
// that no handshake failed over the whole run.
func runSucceedsWithoutFailures(t *testing.T, runner *plan.Runner, r *rotation.Rotation, sink *tally) {
	t.Helper()
	st, err := runner.Run(t.Context(), r.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("outcome %s: %s", st.Outcome, st.Reason)
	}
	time.Sleep(2 * propagation) // traffic on the final state
	if n, classes := sink.failures(); n != 0 {
		t.Fatalf("%s rotation failed %d handshakes: %v", r.Strategy, n, classes)
	}
}

// The bundle strategy publishes [new, previous] with the new leaves: once
// the mounts caught up, every consumer still accepts the previous CA and
// every hot-reload consumer presents a new-CA leaf. (Atomic drops the
// previous CA, so its hot consumers reject it: this tells the two apart.)
func TestBundleKeepsThePreviousCAAndSwitchesLeaves(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, _ := smallFleet(t, old)
	r := build(t, rotation.StrategyBundle, f, old, next, time.Minute)
	st, err := (&plan.Runner{}).Run(t.Context(), r.Plan)
	if err != nil || st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("bundle plan: %v %+v", err, st)
	}
	time.Sleep(3 * propagation) // every mount holds the publish
	newRoots := x509.NewCertPool()
	newRoots.AddCert(next.Cert)
	probeNew, err := rotation.ProbeLeaf(next, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	probeOld, err := rotation.ProbeLeaf(old, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := f.Consumers(t.Context())
	for _, c := range cs {
		if err := f.VerifyAcceptsCA(t.Context(), c, probeOld); err != nil {
			t.Errorf("%s no longer accepts the previous CA: %v", c.Name, err)
		}
		if c.Reload == rotation.ReloadHot {
			if err := f.VerifyPresentsLeafFrom(t.Context(), c, newRoots, probeNew); err != nil {
				t.Errorf("%s does not present a new-CA leaf: %v", c.Name, err)
			}
		}
	}
}
