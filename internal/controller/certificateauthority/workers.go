package certificateauthority

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
)

// Job is one rotation for Workers to run.
type Job struct {
	Key  types.NamespacedName
	Plan *plan.Plan
	// Checkpoint stores progress in status.rotation.
	Checkpoint plan.Checkpoint
	Observers  []plan.Observer
	// Progress is shared with the job's observers and backend wrapper.
	Progress *Progress
	// OnEnd runs once the plan ended (any outcome), with a context that is
	// not cancelled by an abort.
	OnEnd func(ctx context.Context, st *plan.State)
}

// Workers is the manager.Runnable that runs one goroutine per
// CertificateAuthority with a rotation in progress. It needs leader
// election (only the leader rotates); when the manager stops, every
// running plan is interrupted with its progress saved, and the next leader
// resumes it from status.rotation.
type Workers struct {
	// Clock times retry backoff; nil = real clock.
	Clock clock.Clock
	// Log receives worker errors (never key material).
	Log logr.Logger
	// Retry is the wait before a plan that stopped on an error (a failed
	// checkpoint write, an unreachable apiserver) runs again; 0 = 5s.
	Retry time.Duration

	mu     sync.Mutex
	base   context.Context
	jobs   map[types.NamespacedName]*worker
	wg     sync.WaitGroup
	events chan event.TypedGenericEvent[*v1alpha1.CertificateAuthority]
}

type worker struct {
	cancel   context.CancelFunc
	aborted  bool
	progress *Progress
}

// NewWorkers returns Workers with a buffered notification channel.
func NewWorkers(clk clock.Clock, log logr.Logger) *Workers {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Workers{
		Clock: clk, Log: log,
		jobs:   map[types.NamespacedName]*worker{},
		events: make(chan event.TypedGenericEvent[*v1alpha1.CertificateAuthority], 1024),
	}
}

// Events delivers the notifications of Notify (the plan events that change
// what Reconcile reads from memory, see planObserver, and every ended
// worker), for a source.Channel that enqueues the object's reconcile.
func (w *Workers) Events() <-chan event.TypedGenericEvent[*v1alpha1.CertificateAuthority] {
	return w.events
}

// NeedLeaderElection is true: only the leader runs rotations.
func (w *Workers) NeedLeaderElection() bool { return true }

// Start records ctx as the parent of every worker and blocks until it ends,
// then waits for the workers to stop. It implements manager.Runnable.
func (w *Workers) Start(ctx context.Context) error {
	w.mu.Lock()
	w.base = ctx
	w.mu.Unlock()
	<-ctx.Done()
	// Barrier: a Run that saw ctx live has finished its wg.Add under mu, and
	// every later Run sees ctx.Err() and refuses, so Wait covers every worker.
	w.mu.Lock()
	w.mu.Unlock() //nolint:staticcheck // SA2001: the empty critical section is the barrier
	w.wg.Wait()
	return nil
}

// Running reports whether a worker runs key's rotation.
func (w *Workers) Running(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.jobs[key]
	return ok
}

// Progress returns the progress of key's running rotation, nil when none.
func (w *Workers) Progress(key types.NamespacedName) *Progress {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j, ok := w.jobs[key]; ok {
		return j.progress
	}
	return nil
}

// Abort interrupts key's plan and, if it is before its point of no return,
// rolls it back (plan.Runner with RollbackOnCancel on the interrupted
// run). It returns false when no worker runs key.
func (w *Workers) Abort(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[key]
	if !ok {
		return false
	}
	j.aborted = true
	j.cancel()
	return true
}

// Stop interrupts key's plan without rollback (the object was deleted).
func (w *Workers) Stop(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j, ok := w.jobs[key]; ok {
		j.cancel()
	}
}

// Run starts a worker for job unless one runs for job.Key already (then it
// returns nil and does nothing). Errors: ErrNotLeader before Start.
func (w *Workers) Run(job Job) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.base == nil || w.base.Err() != nil {
		return ErrNotLeader
	}
	if _, ok := w.jobs[job.Key]; ok {
		return nil
	}
	ctx, cancel := context.WithCancel(w.base)
	wk := &worker{cancel: cancel, progress: job.Progress}
	w.jobs[job.Key] = wk
	w.wg.Add(1)
	go w.loop(ctx, w.base, wk, job)
	return nil
}

func (w *Workers) isAborted(wk *worker) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return wk.aborted
}

func (w *Workers) loop(ctx, base context.Context, wk *worker, job Job) {
	defer w.wg.Done()
	defer func() {
		w.mu.Lock()
		delete(w.jobs, job.Key)
		w.mu.Unlock()
		wk.cancel()
		w.Notify(job.Key)
	}()
	log := w.Log.WithValues("certificateAuthority", job.Key.String())
	retry := w.Retry
	if retry <= 0 {
		retry = 5 * time.Second
	}
	for {
		r := &plan.Runner{Checkpoint: job.Checkpoint, Observers: job.Observers, Clock: w.Clock}
		st, err := r.Run(ctx, job.Plan)
		if err != nil && w.isAborted(wk) && base.Err() == nil {
			// Abort: rerun on the cancelled context with rollback; the
			// runner reverts with a detached context before the point of
			// no return and returns an error after it.
			r.RollbackOnCancel = true
			st, err = r.Run(ctx, job.Plan)
		}
		if err == nil {
			if job.OnEnd != nil {
				job.OnEnd(context.WithoutCancel(base), st)
			}
			return
		}
		if base.Err() != nil || ctx.Err() != nil || errors.Is(err, ErrSuperseded) || errors.Is(err, plan.ErrCheckpointMismatch) || errors.Is(err, plan.ErrInvalidPlan) {
			if base.Err() == nil {
				log.Info("rotation worker stopped", "reason", err.Error())
			}
			return
		}
		log.Error(err, "rotation plan stopped; retrying", "after", retry.String())
		t := w.Clock.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// Notify enqueues a reconcile of key (dropped when the buffer is full: the
// periodic resync catches up).
func (w *Workers) Notify(key types.NamespacedName) {
	obj := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	select {
	case w.events <- event.TypedGenericEvent[*v1alpha1.CertificateAuthority]{Object: obj}:
	default:
	}
}

// Progress is the live convergence of one rotation: the bundle generation
// published last and, per consumer, the generation a verification last
// showed it on. It is safe for concurrent use.
type Progress struct {
	mu       sync.Mutex
	gen      int64
	verified map[string]int64
}

// NewProgress starts at bundle generation gen with every consumer on it.
func NewProgress(gen int64, consumers []string) *Progress {
	p := &Progress{gen: gen, verified: map[string]int64{}}
	for _, c := range consumers {
		p.verified[c] = gen
	}
	return p
}

// SetGeneration records a new published bundle generation.
func (p *Progress) SetGeneration(gen int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen = gen
}

// Verified records that consumer is on the current generation.
func (p *Progress) Verified(consumer string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.verified[consumer] = p.gen
}

// AllVerified records every known consumer on the current generation (a
// gate over all of them passed).
func (p *Progress) AllVerified() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.verified {
		p.verified[c] = p.gen
	}
}

// Snapshot returns the current generation and a copy of the verified map.
func (p *Progress) Snapshot() (int64, map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.verified))
	for k, v := range p.verified {
		out[k] = v
	}
	return p.gen, out
}
