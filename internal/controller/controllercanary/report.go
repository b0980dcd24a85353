package controllercanary

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/plan"
)

// gateOrder is the order of status.gates.
var gateOrder = []string{canary.GateDeletionBudget, canary.GateErrorRatio, canary.GateDeniedWrites, canary.GateDrained, canary.GateReconciled}

// statusReport collects what the plan observes — each gate's last verdict
// (canary.Config.OnGate), the main objects each revision owns
// (Config.OnOwned) — and writes it with the ledger's deletes in the window
// into status.gates, status.owned and status.deletes: at once when a gate's
// state or an owned count changes, else at most once per every (the gates
// run at the plan's 100 ms poll). A failed write becomes a Warning event
// StatusWriteFailed (never only a log line) and is retried at the next
// verdict. Safe for concurrent use.
type statusReport struct {
	client   client.Client
	reader   client.Reader
	recorder events.EventRecorder
	clock    clock.PassiveClock
	cc       *v1alpha1.ControllerCanary // the worker's snapshot (name, revisions)
	ledger   *canary.Ledger
	every    time.Duration

	mu      sync.Mutex
	gates   map[string]v1alpha1.GateVerdict
	owned   map[string]int
	written time.Time
	dirty   bool
}

func newStatusReport(c client.Client, reader client.Reader, rec events.EventRecorder, clk clock.PassiveClock, cc *v1alpha1.ControllerCanary, ledger *canary.Ledger) *statusReport {
	return &statusReport{client: c, reader: reader, recorder: rec, clock: clk, cc: cc, ledger: ledger, every: 5 * time.Second,
		gates: map[string]v1alpha1.GateVerdict{}}
}

// verdict maps a plan.CheckState to GateVerdict.Verdict.
func verdict(s plan.CheckState) string {
	switch s {
	case plan.CheckDone:
		return "Done"
	case plan.CheckFailed:
		return "Failed"
	default:
		return "NotYet"
	}
}

// Gate records one verdict (canary.Config.OnGate).
func (s *statusReport) Gate(name string, r plan.Result) {
	now := s.clock.Now()
	s.mu.Lock()
	prev, ok := s.gates[name]
	v := verdict(r.State)
	s.gates[name] = v1alpha1.GateVerdict{Name: name, Verdict: v, Message: r.Reason, At: metav1.Time{Time: now}}
	if !ok || prev.Verdict != v {
		s.dirty = true
	}
	s.mu.Unlock()
	s.flush(context.Background(), false)
}

// Owned records the owned counts after a relabel (canary.Config.OnOwned).
func (s *statusReport) Owned(m map[string]int) {
	s.mu.Lock()
	s.owned = map[string]int{}
	for k, v := range m {
		s.owned[k] = v
	}
	s.dirty = true
	s.mu.Unlock()
	s.flush(context.Background(), false)
}

// flush writes the status when something changed or every has passed
// since the last write (or always with force).
func (s *statusReport) flush(ctx context.Context, force bool) {
	now := s.clock.Now()
	s.mu.Lock()
	if !force && !s.dirty && now.Sub(s.written) < s.every {
		s.mu.Unlock()
		return
	}
	gates := make([]v1alpha1.GateVerdict, 0, len(s.gates))
	for _, n := range gateOrder {
		if g, ok := s.gates[n]; ok {
			gates = append(gates, g)
		}
	}
	var owned []v1alpha1.VersionCount
	if s.owned != nil {
		for _, rev := range []string{s.cc.Spec.Stable.Revision, s.cc.Spec.Canary.Revision} {
			owned = append(owned, v1alpha1.VersionCount{Revision: rev, Count: int64(s.owned[rev])})
		}
	}
	s.written, s.dirty = now, false
	s.mu.Unlock()
	deletes := []v1alpha1.VersionCount{}
	for _, rev := range []string{s.cc.Spec.Stable.Revision, s.cc.Spec.Canary.Revision} {
		deletes = append(deletes, v1alpha1.VersionCount{Revision: rev, Count: int64(s.ledger.Count(rev))})
	}
	if err := s.write(ctx, gates, owned, deletes); err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		s.recorder.Eventf(s.cc, nil, corev1.EventTypeWarning, "StatusWriteFailed", "StatusWriteFailed", "%s", err.Error())
	}
}

func (s *statusReport) write(ctx context.Context, gates []v1alpha1.GateVerdict, owned, deletes []v1alpha1.VersionCount) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cur := &v1alpha1.ControllerCanary{}
	if err := s.reader.Get(wctx, client.ObjectKey{Name: s.cc.Name}, cur); err != nil {
		return fmt.Errorf("controllercanary %s: write status.gates: %w", s.cc.Name, err)
	}
	base := cur.DeepCopy()
	cur.Status.Gates = gates
	if owned != nil {
		cur.Status.Owned = owned
	}
	cur.Status.Deletes = deletes
	if err := s.client.Status().Patch(wctx, cur, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("controllercanary %s: write status.gates, owned, deletes: %w", s.cc.Name, err)
	}
	return nil
}
