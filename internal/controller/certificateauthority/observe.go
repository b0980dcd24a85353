package certificateauthority

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/rotation"
)

// planObserver turns plan events into Kubernetes events, metrics, bundle
// generations and reconcile notifications.
//
// It notifies (Workers.Notify) only after an event that changed what
// Reconcile reads from memory: the bundle generation (bump) and, at the
// end, every consumer verified (Progress.AllVerified). Everything else
// Reconcile writes follows from status.rotation and the managed copy, and
// the plan saves its checkpoint (status.rotation) before every event it
// emits, so the watch on the CertificateAuthority reconciles it after each
// of those writes (a watch event is never dropped; a notification can be,
// when its buffer is full). The consumers a gate verified
// (observedBackend) are recorded before the checkpoint save that ends or
// reports the gate's check.
type planObserver struct {
	r        *Reconciler
	ca       *v1alpha1.CertificateAuthority
	key      client.ObjectKey
	id       string
	progress *Progress
}

// bundleSteps publish a new trust bundle when they start.
var bundleSteps = map[string]bool{
	rotation.StepAddCA: true, rotation.StepDropPrevious: true,
	"replace-ca-and-leaves": true, "bundle-ca-and-replace-leaves": true,
}

func (o *planObserver) Observe(e plan.Event) {
	typ := corev1.EventTypeNormal
	var note string
	switch e.Kind {
	case plan.EventPlanStarted:
		note = "plan " + e.Plan + " started"
		if e.Reason != "" {
			note += " (" + e.Reason + ")"
		}
	case plan.EventPlanEnded:
		note = "plan " + e.Plan + " ended " + string(e.Outcome)
		if e.Outcome != plan.OutcomeSucceeded {
			typ = corev1.EventTypeWarning
		}
	case plan.EventStepFailed:
		typ = corev1.EventTypeWarning
		note = "step " + e.Step + " failed"
	default:
		note = "step " + e.Step + ": " + strings.TrimPrefix(string(e.Kind), "Step")
	}
	if e.Reason != "" && e.Kind != plan.EventPlanStarted {
		note += ": " + e.Reason
	}
	// The step is the event's action: events/v1 merges events with the same
	// regarding object, reason and action into one series (keeping the
	// first note), so without it every StepStarted of a plan would show as
	// one "StepStarted (x7)" in kubectl describe.
	action := "Rotate"
	if e.Step != "" {
		action = e.Step
	}
	o.r.Recorder.Eventf(o.ca, nil, typ, string(e.Kind), action, "%s", note)

	label := o.key.String()
	notify := false
	switch e.Kind {
	case plan.EventStepStarted:
		o.r.Metrics.SetPhase(label, e.Step)
		if bundleSteps[e.Step] {
			o.bump(o.id + "/" + e.Step)
			notify = true
		}
	case plan.EventStepReverting:
		o.r.Metrics.SetPhase(label, "revert-"+e.Step)
		if e.Step == rotation.StepAddCA {
			o.bump(o.id + "/" + e.Step + "/revert")
			notify = true
		}
	case plan.EventPlanEnded:
		// Only a plan that passed every gate has every consumer on the
		// last generation. A step's Done says nothing of the consumers
		// its gate skipped (add-new-ca-to-bundles checks hot-reload
		// consumers only), so it marks none: each consumer is verified
		// by its own handshake (observedBackend).
		if e.Outcome == plan.OutcomeSucceeded {
			o.progress.AllVerified()
		}
		o.r.Metrics.SetPhase(label, string(e.Outcome))
		notify = true
	}
	if notify {
		o.r.Workers.Notify(o.key)
	}
}

// bump increments the bundle generation once per idempotency key. The
// first attempt writes on the last copy this controller read or wrote
// (copyCache.cached, no read); a Conflict (the copy changed since) or no
// such copy reads it live.
func (o *planObserver) bump(idKey string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cp := o.r.copies.cached(o.ca)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if cp == nil {
			var p *Problem
			var err error
			if cp, p, err = o.r.copies.read(ctx, o.r.APIReader, o.ca); err != nil {
				return err
			}
			if p != nil || cp == nil {
				return fmt.Errorf("managed copy unusable")
			}
		}
		base := cp
		cp = nil // a retry reads live
		s, err := writeCopy(ctx, o.r.Client, o.ca, base.secret, copyUpdate{bumpGeneration: idKey})
		if err != nil {
			return err
		}
		o.r.copies.store(o.ca, base.withSecret(s))
		o.progress.SetGeneration((&managedCopy{secret: s}).generation())
		return nil
	})
	if err != nil {
		o.r.Workers.Log.Error(err, "bump bundle generation", "certificateAuthority", o.key.String())
	}
}

// observedBackend wraps the rotation backend to record per-consumer
// convergence and handshake failures from the verifications the plan
// makes. It adds no behaviour.
type observedBackend struct {
	rotation.Backend
	progress *Progress
	newCA    *x509.Certificate
	metrics  *Metrics
	ca       string
}

func (b *observedBackend) issuedByNew(probe tls.Certificate) bool {
	if len(probe.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(probe.Certificate[0])
	return err == nil && leaf.CheckSignatureFrom(b.newCA) == nil
}

func (b *observedBackend) VerifyAcceptsCA(ctx context.Context, c rotation.Consumer, probe tls.Certificate) error {
	err := b.Backend.VerifyAcceptsCA(ctx, c, probe)
	byNew := b.issuedByNew(probe)
	switch {
	case err == nil && byNew, errors.Is(err, rotation.ErrRejected) && !byNew:
		b.progress.Verified(c.Name)
	}
	b.countFailure(ctx, c, err)
	return err
}

func (b *observedBackend) VerifyPresentsLeafFrom(ctx context.Context, c rotation.Consumer, roots *x509.CertPool, probe tls.Certificate) error {
	err := b.Backend.VerifyPresentsLeafFrom(ctx, c, roots, probe)
	b.countFailure(ctx, c, err)
	return err
}

// countFailure counts a failed handshake with a consumer that has a probe
// address; deliberate rejections and cancellations are not failures.
func (b *observedBackend) countFailure(ctx context.Context, c rotation.Consumer, err error) {
	if err == nil || c.Addr == "" || errors.Is(err, rotation.ErrRejected) || ctx.Err() != nil {
		return
	}
	b.metrics.HandshakeFailures.WithLabelValues(b.ca, c.Name).Inc()
}
