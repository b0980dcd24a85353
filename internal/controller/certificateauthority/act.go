package certificateauthority

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// act carries out dec. Bad input found on the way is returned as a
// problemError before anything is written.
func (r *Reconciler) act(ctx context.Context, ca *v1alpha1.CertificateAuthority, w *world, dec Decision, now time.Time) error {
	o := w.observed
	cp := w.copy
	switch dec.Action {
	case ActionFirstPublish:
		return r.firstPublish(ctx, ca, w, now)
	case ActionRotate:
		next := w.source
		ann := map[string]string{AnnotationTrigger: dec.Trigger}
		switch dec.Trigger {
		case TriggerSourceChanged:
			ann[AnnotationSourceSeen] = o.SourceFP
		default:
			if dec.Trigger == TriggerManual {
				ann[AnnotationRotateHandled] = o.RotateToken
			}
			ca2, err := r.generateCA(ca, now)
			if err != nil {
				return err
			}
			next = ca2
		}
		return r.startRotation(ctx, ca, cp, next, cp.active, dec.Trigger, ann, now)
	case ActionRevert:
		ann := map[string]string{AnnotationTrigger: TriggerRevert, AnnotationRevertHandled: o.RevertToken}
		return r.startRotation(ctx, ca, cp, cp.previous, cp.active, TriggerRevert, ann, now)
	case ActionBegin:
		trigger := cp.ann(AnnotationTrigger)
		if dec.Trigger != "" {
			trigger = dec.Trigger
		}
		if cp.previous == nil {
			return &problemError{&Problem{ReasonInvalidSource, "Secret " + cp.secret.Name + " (managed copy)", "a new active CA without a previous one; delete the Secret to publish from scratch"}}
		}
		if o.RotateToken != o.RotateHandled {
			if _, err := writeCopy(ctx, r.Client, ca, cp.secret, copyUpdate{annotations: map[string]string{AnnotationRotateHandled: o.RotateToken}}); err != nil {
				return err
			}
		}
		return r.begin(ctx, ca, trigger, now)
	case ActionFinish:
		r.onEnd(ctx, client.ObjectKeyFromObject(ca), ca.Status.Rotation, StateFromStatus(ca.Status.Rotation))
		return nil
	case ActionResume:
		return r.launch(ctx, ca, cp, ca.Status.Rotation)
	case ActionAbort:
		key := client.ObjectKeyFromObject(ca)
		if !r.Workers.Running(key) {
			if err := r.launch(ctx, ca, cp, ca.Status.Rotation); err != nil {
				return err
			}
		}
		r.Workers.Abort(key)
		r.Recorder.Eventf(ca, nil, corev1.EventTypeNormal, "Aborting", "Revert",
			"revert %q: aborting the rotation to %s before its point of no return; it rolls back", o.RevertToken, o.ActiveFP)
		return nil
	case ActionRevertNothing:
		r.Recorder.Eventf(ca, nil, corev1.EventTypeWarning, "RevertIgnored", "Revert", "revert %q: %v", o.RevertToken, ErrNoPrevious)
		_, err := writeCopy(ctx, r.Client, ca, cp.secret, copyUpdate{annotations: map[string]string{AnnotationRevertHandled: o.RevertToken}})
		return err
	case ActionRepublish:
		if err := r.publish(ctx, ca, cp.active); err != nil {
			return err
		}
		r.Recorder.Eventf(ca, nil, corev1.EventTypeNormal, "Republished", "Rotate", "rotate %q: re-published the active CA %s and fresh leaves", o.RotateToken, o.ActiveFP)
		_, err := writeCopy(ctx, r.Client, ca, cp.secret, copyUpdate{annotations: map[string]string{AnnotationRotateHandled: o.RotateToken}})
		return err
	case ActionAdoptSource:
		_, err := writeCopy(ctx, r.Client, ca, cp.secret, copyUpdate{annotations: map[string]string{AnnotationSourceSeen: o.SourceFP}})
		return err
	case ActionModeSwitch:
		if _, err := writeCopy(ctx, r.Client, ca, cp.secret, copyUpdate{annotations: map[string]string{AnnotationPublishedMode: string(o.Mode)}}); err != nil {
			return err
		}
		r.Recorder.Eventf(ca, nil, corev1.EventTypeNormal, "ModeSwitched", "ModeSwitch",
			"mode %s -> %s: targets hold bundle [active] and leaves from the active CA, right in both modes; later rotations run %s",
			o.PublishedMode, o.Mode, Strategy(o.Mode, o.Mode, len(ca.Spec.Consumers)))
		return nil
	}
	return nil
}

// generateCA creates a CA per spec.source.generate.
func (r *Reconciler) generateCA(ca *v1alpha1.CertificateAuthority, now time.Time) (*trust.CA, error) {
	g := ca.Spec.Source.Generate
	if g == nil {
		return nil, fmt.Errorf("%w %s/%s: spec.source.generate is not set", ErrBadInput, ca.Namespace, ca.Name)
	}
	alg, err := keyAlgorithm(g.Algorithm)
	if err != nil {
		return nil, &problemError{&Problem{ReasonInvalidSpec, "spec.source.generate.algorithm", err.Error()}}
	}
	cn := g.CommonName
	if cn == "" {
		cn = ca.Name
	}
	c, err := trust.NewCA(trust.CAOptions{CommonName: cn, Algorithm: alg, Validity: durationOr(g.Duration, defaultCADuration)}, now)
	if err != nil {
		return nil, fmt.Errorf("generate CA for %s/%s: %w", ca.Namespace, ca.Name, err)
	}
	return c, nil
}

// keyAlgorithm maps the API's algorithm names to internal/trust's.
func keyAlgorithm(a v1alpha1.KeyAlgorithm) (trust.KeyAlgorithm, error) {
	switch a {
	case "", v1alpha1.KeyAlgorithmECDSAP256:
		return "ecdsa-p256", nil
	case v1alpha1.KeyAlgorithmRSA2048:
		return "rsa-2048", nil
	case v1alpha1.KeyAlgorithmRSA3072:
		return "rsa-3072", nil
	case v1alpha1.KeyAlgorithmRSA4096:
		return "rsa-4096", nil
	case v1alpha1.KeyAlgorithmEd25519:
		return "ed25519", nil
	}
	return "", fmt.Errorf("unknown algorithm %q", a)
}

// firstPublish stores the CA in the managed copy (generating it, or
// copying the root), publishes bundle [active] and leaves, and records the
// publish. The copy is written first so no leaf exists whose CA key is lost.
func (r *Reconciler) firstPublish(ctx context.Context, ca *v1alpha1.CertificateAuthority, w *world, now time.Time) error {
	cp := w.copy
	var secret *corev1.Secret
	active := w.source
	if cp != nil {
		secret, active = cp.secret, cp.active
	}
	if active == nil {
		var err error
		if active, err = r.generateCA(ca, now); err != nil {
			return err
		}
	}
	fp := trust.Fingerprint(active.Cert)
	// Build the backend before the first write: its static checks are bad input.
	b, err := r.NewBackend(r.Client, ca, active)
	if err != nil {
		return &problemError{&Problem{ReasonInvalidSpec, "spec", err.Error()}}
	}
	if cp == nil {
		ann := map[string]string{}
		if w.source != nil {
			ann[AnnotationSourceSeen] = fp
		}
		if secret, err = writeCopy(ctx, r.Client, ca, nil, copyUpdate{active: active, setCA: true, annotations: ann}); err != nil {
			return err
		}
	}
	if err := publishWith(ctx, b, active, r.Clock.Now); err != nil {
		return err
	}
	ann := map[string]string{AnnotationPublished: fp, AnnotationPublishedMode: string(modeOf(ca))}
	if ca.Annotations[AnnotationRotate] != "" {
		ann[AnnotationRotateHandled] = ca.Annotations[AnnotationRotate]
	}
	if ca.Annotations[AnnotationRevert] != "" {
		ann[AnnotationRevertHandled] = ca.Annotations[AnnotationRevert]
	}
	if _, err := writeCopy(ctx, r.Client, ca, secret, copyUpdate{annotations: ann, bumpGeneration: "publish/" + fp}); err != nil {
		return err
	}
	r.Recorder.Eventf(ca, nil, corev1.EventTypeNormal, "Published", "Publish", "published CA %s to %d target(s) and %d certificate(s)", fp, len(ca.Spec.TrustBundles), len(ca.Spec.Certificates))
	return nil
}

// publish writes bundle [active] and fresh leaves from active.
func (r *Reconciler) publish(ctx context.Context, ca *v1alpha1.CertificateAuthority, active *trust.CA) error {
	b, err := r.NewBackend(r.Client, ca, active)
	if err != nil {
		return &problemError{&Problem{ReasonInvalidSpec, "spec", err.Error()}}
	}
	return publishWith(ctx, b, active, r.Clock.Now)
}

func publishWith(ctx context.Context, b rotation.Backend, active *trust.CA, now func() time.Time) error {
	if err := b.PublishTrustBundle(ctx, trust.EncodeCertificates(active.Cert)); err != nil {
		return fmt.Errorf("publish trust bundle: %w", err)
	}
	if err := b.PublishLeaves(ctx, rotation.Issuer(active, now)); err != nil {
		return fmt.Errorf("publish leaves: %w", err)
	}
	return nil
}

// startRotation adopts next as the active CA in the managed copy (with
// prev as previous), then begins the rotation.
func (r *Reconciler) startRotation(ctx context.Context, ca *v1alpha1.CertificateAuthority, cp *managedCopy, next, prev *trust.CA, trigger string, ann map[string]string, now time.Time) error {
	if next == nil || prev == nil {
		return fmt.Errorf("%w %s/%s: rotation without a new or previous CA", ErrBadInput, ca.Namespace, ca.Name)
	}
	if _, err := r.NewBackend(r.Client, ca, next); err != nil {
		return &problemError{&Problem{ReasonInvalidSpec, "spec", err.Error()}}
	}
	if _, err := writeCopy(ctx, r.Client, ca, cp.secret, copyUpdate{active: next, previous: prev, setCA: true, annotations: ann,
		setRetired: true, retired: retiredFor(cp, next, prev, maxCAsOf(ca))}); err != nil {
		return err
	}
	return r.begin(ctx, ca, trigger, now)
}

// begin records a new status.rotation for the managed copy's active CA and
// starts its worker.
func (r *Reconciler) begin(ctx context.Context, ca *v1alpha1.CertificateAuthority, trigger string, now time.Time) error {
	if r.Workers.Running(client.ObjectKeyFromObject(ca)) {
		return fmt.Errorf("%s/%s: a rotation worker still runs; not starting another", ca.Namespace, ca.Name)
	}
	cp, p, err := r.copies.read(ctx, r.APIReader, ca)
	if err != nil {
		return err
	}
	if p != nil {
		return &problemError{p}
	}
	pubMode := v1alpha1.Mode(cp.ann(AnnotationPublishedMode))
	rot := &v1alpha1.RotationStatus{
		Target:    trust.Fingerprint(cp.active.Cert),
		Trigger:   trigger,
		Strategy:  string(Strategy(modeOf(ca), pubMode, len(ca.Spec.Consumers))),
		StartedAt: metav1.NewTime(now.Truncate(time.Second)),
		Phase:     "Pending",
	}
	if err := r.checkpoint(ca, rot).Begin(ctx); err != nil {
		return err
	}
	r.Recorder.Eventf(ca, nil, corev1.EventTypeNormal, "RotationStarted", "Rotate",
		"%s rotation (%s) to CA %s", trigger, rot.Strategy, rot.Target)
	return r.launch(ctx, ca, cp, rot)
}

func (r *Reconciler) checkpoint(ca *v1alpha1.CertificateAuthority, rot *v1alpha1.RotationStatus) *StatusCheckpoint {
	key := client.ObjectKeyFromObject(ca)
	return &StatusCheckpoint{
		Client: r.Client, Reader: r.APIReader, Key: key,
		Target: rot.Target, Trigger: rot.Trigger, Strategy: rot.Strategy, StartedAt: rot.StartedAt,
		Wrote: func(rv string) { r.latest.saw(key, rv) },
	}
}

// launch builds the plan of rot from the managed copy (New = active, Old =
// previous) and starts its worker (a no-op when one runs).
func (r *Reconciler) launch(_ context.Context, ca *v1alpha1.CertificateAuthority, cp *managedCopy, rot *v1alpha1.RotationStatus) error {
	key := client.ObjectKeyFromObject(ca)
	if r.Workers.Running(key) {
		return nil
	}
	if cp == nil || cp.previous == nil || trust.Fingerprint(cp.active.Cert) != rot.Target {
		return fmt.Errorf("%w %s: status.rotation.target %s is not the managed copy's active CA with a previous one", ErrBadInput, key, rot.Target)
	}
	inner, err := r.NewBackend(r.Client, ca, cp.active)
	if err != nil {
		return &problemError{&Problem{ReasonInvalidSpec, "spec", err.Error()}}
	}
	names := make([]string, 0, len(ca.Spec.Consumers))
	for _, c := range ca.Spec.Consumers {
		names = append(names, c.Name)
	}
	// A resumed rotation starts from the generations status last recorded,
	// not with every consumer on the current one (that showed a consumer
	// converged while the gate it failed was still holding the rotation).
	prog := ResumeProgress(cp.generation(), names, ca.Status.Consumers)
	label := key.String()
	b := &observedBackend{Backend: inner, progress: prog, newCA: cp.active.Cert, metrics: r.Metrics, ca: label}
	grace := defaultGrace
	if ca.Spec.GracePeriod != nil {
		grace = ca.Spec.GracePeriod.Duration
	}
	rr, err := rotation.Build(rotation.Strategy(rot.Strategy), rotation.Spec{
		Backend: b, Old: cp.previous, New: cp.active,
		Retained: cp.retired, MaxCAs: maxCAsOf(ca), InUse: r.leavesInUse(ca),
		LeavesIssued: r.certManagerGate(ca, cp.active),
		Propagation:  durationOr(ca.Spec.PropagationTimeout, defaultPropagation),
		Grace:        grace,
		PollInterval: r.PollInterval,
		Clock:        r.Clock,
	})
	if err != nil {
		return fmt.Errorf("build rotation plan for %s: %w", key, err)
	}
	obs := &planObserver{r: r, ca: ca.DeepCopy(), key: key, id: rot.StartedAt.UTC().Format(time.RFC3339) + "/" + rot.Target, progress: prog}
	return r.Workers.Run(Job{
		Key: key, Plan: rr.Plan, Checkpoint: r.checkpoint(ca, rot), Observers: []plan.Observer{obs},
		Progress: prog,
		OnEnd:    func(ctx context.Context, st *plan.State) { r.onEnd(ctx, key, rot, st) },
	})
}

// onEnd records how a rotation ended in the managed copy: Succeeded →
// published; RolledBack → the previous CA is active again (and an abort's
// revert token handled); Failed → nothing (Degraded until a human acts).
// The first attempt writes on the last copy this controller read or wrote
// (copyCache.cached) when its active CA is rot's target; a Conflict, or any
// other copy, reads the copy live, and only a live copy decides that there
// is nothing to record.
func (r *Reconciler) onEnd(ctx context.Context, key client.ObjectKey, rot *v1alpha1.RotationStatus, st *plan.State) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	first := true
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		ca := &v1alpha1.CertificateAuthority{}
		if err := r.APIReader.Get(ctx, key, ca); err != nil {
			return err
		}
		var cp *managedCopy
		if first {
			first = false
			if c := r.copies.cached(ca); c != nil && trust.Fingerprint(c.active.Cert) == rot.Target {
				cp = c
			}
		}
		if cp == nil {
			var p *Problem
			var err error
			if cp, p, err = r.copies.read(ctx, r.APIReader, ca); err != nil {
				return err
			}
			if p != nil || cp == nil || trust.Fingerprint(cp.active.Cert) != rot.Target {
				return nil
			}
		}
		var err error
		switch st.Outcome {
		case plan.OutcomeSucceeded:
			var s *corev1.Secret
			s, err = writeCopy(ctx, r.Client, ca, cp.secret, copyUpdate{annotations: map[string]string{
				AnnotationPublished: rot.Target, AnnotationPublishedMode: string(modeOf(ca)),
			}})
			if err == nil {
				r.copies.store(ca, cp.withSecret(s))
			}
		case plan.OutcomeRolledBack:
			ann := map[string]string{}
			if st.Reason == plan.ReasonAborted {
				ann[AnnotationRevertHandled] = ca.Annotations[AnnotationRevert]
			}
			_, err = writeCopy(ctx, r.Client, ca, cp.secret, copyUpdate{active: cp.previous, previous: cp.active, setCA: true, annotations: ann})
		}
		return err
	})
	if err != nil {
		r.Workers.Log.Error(err, "record rotation outcome", "certificateAuthority", key.String())
	}
}
