package certificateauthority

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/handover-dev/handover/internal/plan"
)

// funcStep is a plan step made of functions (the unit under test is
// Workers, not the steps).
type funcStep struct {
	name   string
	apply  func(context.Context) error
	revert func(context.Context) error
}

func (s *funcStep) Name() string                      { return s.name }
func (s *funcStep) Apply(ctx context.Context) error   { return s.apply(ctx) }
func (s *funcStep) Check(context.Context) plan.Result { return plan.Done() }
func (s *funcStep) Revert(ctx context.Context) error {
	if s.revert == nil {
		return nil
	}
	return s.revert(ctx)
}

// blockingPlan's second step blocks until its context ends; its first step
// records reverts.
func blockingPlan(started chan<- struct{}, reverted *sync.WaitGroup) *plan.Plan {
	reverted.Add(1)
	return &plan.Plan{Name: "p", PointOfNoReturn: 2, Steps: []plan.Step{
		&funcStep{name: "one", apply: func(context.Context) error { return nil },
			revert: func(context.Context) error { reverted.Done(); return nil }},
		&funcStep{name: "two", apply: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}},
	}}
}

func startWorkers(t *testing.T) (*Workers, context.CancelFunc, chan error) {
	t.Helper()
	w := NewWorkers(nil, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.mu.Lock()
		ok := w.base != nil
		w.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("workers did not start")
		}
		time.Sleep(time.Millisecond)
	}
	return w, cancel, done
}

func TestWorkersNotLeader(t *testing.T) {
	t.Parallel()
	w := NewWorkers(nil, logr.Discard())
	if err := w.Run(Job{Key: types.NamespacedName{Name: "a"}}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Run before Start = %v, want ErrNotLeader", err)
	}
	if !w.NeedLeaderElection() {
		t.Fatal("workers must need leader election")
	}
}

func TestWorkersAbortRollsBack(t *testing.T) {
	t.Parallel()
	w, cancel, done := startWorkers(t)
	defer cancel()
	key := types.NamespacedName{Namespace: "ns", Name: "a"}
	started := make(chan struct{})
	var reverted sync.WaitGroup
	ended := make(chan *plan.State, 1)
	cp := &plan.MemoryCheckpoint{}
	job := Job{Key: key, Plan: blockingPlan(started, &reverted), Checkpoint: cp, Progress: NewProgress(1, nil),
		OnEnd: func(_ context.Context, st *plan.State) { ended <- st }}
	if err := w.Run(job); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(job); err != nil || !w.Running(key) {
		t.Fatalf("second Run = %v, running %v", err, w.Running(key))
	}
	<-started
	if !w.Abort(key) {
		t.Fatal("Abort found no worker")
	}
	select {
	case st := <-ended:
		if st.Outcome != plan.OutcomeRolledBack || st.Reason != "aborted" {
			t.Fatalf("aborted plan ended %s %q", st.Outcome, st.Reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("aborted plan did not end")
	}
	reverted.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.Running(key) {
		t.Fatal("worker still registered after it ended")
	}
}

func TestWorkersStopKeepsProgress(t *testing.T) {
	t.Parallel()
	w, cancel, done := startWorkers(t)
	key := types.NamespacedName{Namespace: "ns", Name: "b"}
	started := make(chan struct{})
	var reverted sync.WaitGroup
	cp := &plan.MemoryCheckpoint{}
	var ended atomic.Bool
	if err := w.Run(Job{Key: key, Plan: blockingPlan(started, &reverted), Checkpoint: cp, Progress: NewProgress(1, nil),
		OnEnd: func(context.Context, *plan.State) { ended.Store(true) }}); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel() // the manager stops (leadership lost or shutdown)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}
	st, _ := cp.Load(context.Background())
	if ended.Load() || st == nil || st.Outcome != plan.OutcomeRunning || st.RollingBack || st.Steps[1].Phase != plan.StepApplying {
		t.Fatalf("a stopped manager must leave the plan resumable: ended=%v state=%+v", ended.Load(), st)
	}
}

func TestNewMetricsTwice(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	if a.Phase != b.Phase || a.HandshakeFailures != b.HandshakeFailures {
		t.Fatal("second NewMetrics did not reuse the registered series")
	}
	b.SetPhase("ns/a", "x")
	b.SetPhase("ns/a", "y")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "handover_rotation_phase" {
			continue
		}
		found = true
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("phase series: %d, want only the current one", len(mf.GetMetric()))
		}
	}
	if !found {
		t.Fatal("handover_rotation_phase not gathered from the registry")
	}
}
