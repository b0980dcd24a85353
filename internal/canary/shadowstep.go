package canary

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
)

// StepShadow names the shadow step of a canary plan.
const StepShadow = "shadow"

// DefaultShadowDuration is how long a shadow runs when spec.shadow.duration
// is unset.
const DefaultShadowDuration = time.Minute

// shadowSaveEvery is how often a running shadow step persists its record
// (ConfigMap and status.shadow).
const shadowSaveEvery = 2 * time.Second

// ShadowDuration is spec.shadow.duration, or DefaultShadowDuration.
func ShadowDuration(cc *v1alpha1.ControllerCanary) time.Duration {
	if s := cc.Spec.Shadow; s != nil && s.Duration != nil && s.Duration.Duration > 0 {
		return s.Duration.Duration
	}
	return DefaultShadowDuration
}

// shadowStep runs the canary against the cluster with every write denied
// and recorded (Config.Shadow), for spec.shadow.duration, then judges the
// record with ShadowGate. It never hands over an object.
type shadowStep struct {
	cfg *Config

	mu       sync.Mutex
	inScope  int64
	counted  bool
	lastSave time.Time
}

func (s *shadowStep) Name() string { return StepShadow }

func (s *shadowStep) Timeout() time.Duration { return ShadowDuration(s.cfg.Canary) + 5*time.Minute }

func (s *shadowStep) Describe() string {
	a := s.cfg.Canary.Spec.Analysis
	return fmt.Sprintf("shadow run for %s at weight 0: every write of revision %s is denied and recorded; gates: maxShadowDeletes %s, maxShadowUpdatesPercent %s",
		ShadowDuration(s.cfg.Canary), s.cfg.Canary.Spec.Canary.Revision, optInt(a.MaxShadowDeletes), optInt(a.MaxShadowUpdatesPercent))
}

func optInt(p *int32) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// Apply counts the objects in scope (once) and sets AnnotationShadow.
func (s *shadowStep) Apply(ctx context.Context) error {
	if t, open := s.cfg.Ledger.Tripped(s.cfg.Canary.Spec.Canary.Revision); open {
		return plan.Permanent(fmt.Errorf("%w at %s: %s", ErrBreakerTripped, t.At.UTC().Format(time.RFC3339Nano), t.Reason))
	}
	s.mu.Lock()
	counted := s.counted
	s.mu.Unlock()
	if !counted {
		n, err := s.count(ctx)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.inScope, s.counted = n, true
		s.mu.Unlock()
	}
	return SetShadowAnnotation(ctx, s.cfg.Client, s.cfg.Canary.Name, true)
}

// count is the number of objects of every main and controlled kind in
// Config.Namespace ("" = all): the denominator of maxShadowUpdatesPercent.
func (s *shadowStep) count(ctx context.Context) (int64, error) {
	var n int64
	for _, gvk := range s.cfg.Kinds {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := s.cfg.Client.List(ctx, &list, client.InNamespace(s.cfg.Namespace)); err != nil {
			return 0, fmt.Errorf("count %s in scope: %w", gvk.Kind, err)
		}
		n += int64(len(list.Items))
	}
	return n, nil
}

// Check persists the record every 2 s, is NotYet until the duration since
// the step was applied elapsed (or AnnotationPromote is set: `handover
// canary promote` ends the wait), then judges the record (ShadowGate): a
// breach fails the step (the plan rolls back; nothing was handed over),
// a pass clears AnnotationShadow and is Done. An open breaker or
// spec.revert fails it at once.
func (s *shadowStep) Check(ctx context.Context) plan.Result {
	cc := s.cfg.Canary
	if t, open := s.cfg.Ledger.Tripped(cc.Spec.Canary.Revision); open {
		return plan.Failed(fmt.Sprintf("%v at %s: %s", ErrBreakerTripped, t.At.UTC().Format(time.RFC3339Nano), t.Reason))
	}
	cur, err := currentCanary(ctx, s.cfg)
	if err != nil {
		return plan.NotYet(fmt.Sprintf("read controllercanary %s: %v", cc.Name, err))
	}
	if cur.Spec.Revert {
		return plan.Failed(fmt.Sprintf("controllercanary %s: spec.revert is set", cc.Name))
	}
	start, ok := plan.AppliedAt(ctx)
	if !ok {
		return plan.NotYet("shadow: no start recorded yet")
	}
	now := s.cfg.Clock.Now()
	left := start.Add(ShadowDuration(cc)).Sub(now)
	if cur.Annotations[v1alpha1.AnnotationPromote] == "true" {
		left = 0 // `handover canary promote`: judge the record now
	}
	if s.cfg.Shadow == nil {
		return plan.Failed("shadow: no shadow record configured (Config.Shadow is nil)")
	}
	rec := s.cfg.Shadow.Snapshot()
	creates, updates, deletes := rec.Totals()
	s.mu.Lock()
	due := now.Sub(s.lastSave) >= shadowSaveEvery || left <= 0
	inScope := s.inScope
	s.mu.Unlock()
	if due {
		if err := s.save(ctx, rec); err != nil {
			return plan.NotYet(err.Error())
		}
		s.mu.Lock()
		s.lastSave = now
		s.mu.Unlock()
	}
	if left > 0 {
		return plan.NotYet(fmt.Sprintf("shadow: %d denied writes: %d creates, %d updates, %d deletes so far; %s left",
			rec.Attempts, creates, updates, deletes, left.Round(time.Second)))
	}
	if reason, ok := ShadowGate(cc.Spec.Analysis, deletes, updates, inScope); !ok {
		return plan.Failed(reason + fmt.Sprintf(" (handover canary diff %s)", cc.Name))
	}
	if err := SetShadowAnnotation(ctx, s.cfg.Client, cc.Name, false); err != nil {
		return plan.NotYet(err.Error())
	}
	return plan.Done()
}

// save writes the record's ConfigMap and status.shadow.
func (s *shadowStep) save(ctx context.Context, rec *ShadowRecord) error {
	ns := s.cfg.ShadowNamespace
	if ns == "" {
		ns = DefaultShadowNamespace
	}
	if err := SaveShadowRecord(ctx, s.cfg.Client, ns, rec); err != nil {
		return err
	}
	sum := rec.Summary(10)
	sum.Record = ns + "/" + ShadowRecordName(rec.Canary)
	return SetShadowStatus(ctx, s.cfg.Client, s.cfg.Canary.Name, sum)
}

// Revert clears AnnotationShadow: the canary is fenced by ownership again
// (it owns nothing). The record stays for `handover canary diff`.
func (s *shadowStep) Revert(ctx context.Context) error {
	return client.IgnoreNotFound(SetShadowAnnotation(ctx, s.cfg.Client, s.cfg.Canary.Name, false))
}
