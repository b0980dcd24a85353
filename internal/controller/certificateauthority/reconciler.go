package certificateauthority

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/kube/backend"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// BackendFactory builds the rotation.Backend of ca whose leaves are issued
// by issuer (spec.certificates honoured field by field).
type BackendFactory func(c client.Client, ca *v1alpha1.CertificateAuthority, issuer *trust.CA) (rotation.Backend, error)

// Reconciler reconciles CertificateAuthority objects. Reconcile never
// blocks on a rotation: it validates, decides (Decide), starts or resumes a
// worker, and writes every status field but status.rotation (the worker's
// StatusCheckpoint owns that), with a merge patch and only when changed.
// Its permissions are the markers in rbac.go.
type Reconciler struct {
	// Client reads (cached) and writes.
	Client client.Client
	// APIReader reads uncached: the managed copy and the checkpoint.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.Clock
	Workers   *Workers
	Metrics   *Metrics
	// NewBackend builds the rotation backend (the Kubernetes one in Add).
	NewBackend BackendFactory
	// PollInterval is the plan's gate poll interval; 0 = engine default.
	PollInterval time.Duration
	// Resync is the periodic reconcile (inventory, expiry); 0 = 5m.
	Resync time.Duration

	// Metadata reads metadata-only objects (Secrets, ConfigMaps) from the
	// manager's cache.
	Metadata client.Reader
	// Access answers the controller's own access reviews (cached).
	Access *AccessCache
	// copies are the parsed managed copies (copycache.go).
	copies copyCache
	// latest are the newest resourceVersions this controller wrote or
	// read live (cachedread.go).
	latest latestRVs
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	// From the cache only in a steady state (readCA); live otherwise.
	ca := &v1alpha1.CertificateAuthority{}
	live, err := r.readCA(ctx, req.NamespacedName, ca)
	if err != nil {
		if apierrors.IsNotFound(err) {
			r.Workers.Stop(req.NamespacedName)
			r.Metrics.Forget(req.String())
			r.copies.forget(req.NamespacedName)
			r.latest.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if ca.DeletionTimestamp != nil {
		r.Workers.Stop(req.NamespacedName)
		return reconcile.Result{}, nil
	}
	now := r.Clock.Now()
	w, err := r.observe(ctx, ca, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	if w.ca != nil {
		ca = w.ca
	}
	if w.problem != nil {
		return r.degraded(ctx, ca, w, now)
	}
	dec := Decide(w.observed)
	if dec.Action != ActionNone && !live {
		// Act only on what the API says now, never on a cached copy.
		return r.Reconcile(withLiveRead(ctx), req)
	}
	if err := r.act(ctx, ca, w, dec, now); err != nil {
		var p *Problem
		if errors.Is(err, backend.ErrNotOwned) {
			// Ownership changed between observe and the write; the backend wrote nothing.
			p = &Problem{ReasonNotOwned, "spec", err.Error()}
		}
		if p != nil || asProblem(err, &p) {
			w.problem = p
			return r.degraded(ctx, ca, w, now)
		}
		r.Recorder.Eventf(ca, nil, corev1.EventTypeWarning, "ActionFailed", string(dec.Action), "%s: %v", dec.Action, err)
		return reconcile.Result{}, err
	}
	// Re-read what the action changed: the managed copy and status.rotation
	// (begin records a new rotation; without it the status below would say
	// Idle and the phase metric would be reset to Idle while the new
	// rotation's first step runs). Spec, source, namespaces, access and
	// consumer workloads stay as observed: no second round of access reviews
	// and workload lists.
	if dec.Action != ActionNone {
		fresh := &v1alpha1.CertificateAuthority{}
		if err := r.APIReader.Get(ctx, req.NamespacedName, fresh); err != nil {
			return reconcile.Result{}, err
		}
		r.latest.saw(req.NamespacedName, fresh.ResourceVersion)
		ca.Status.Rotation = fresh.Status.Rotation
		if w.copy, _, err = r.copies.read(ctx, r.APIReader, ca); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := r.afterAct(ctx, ca, w); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writeStatus(ctx, ca, w, dec, now); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: r.requeue(ca, w, now)}, nil
}

// world is what observe found.
type world struct {
	// orig is the object as stored, ca the same with namespaceSelector
	// targets expanded (selector.go).
	orig, ca *v1alpha1.CertificateAuthority
	selected int32 // namespaces the selector targets reach
	copy     *managedCopy
	source   *trust.CA
	problem  *Problem
	declared []DeclaredSelector
	observed Observed
}

func (r *Reconciler) observe(ctx context.Context, ca *v1alpha1.CertificateAuthority, now time.Time) (*world, error) {
	w := &world{}
	cluster, err := ClusterSanctioned(ctx, r.APIReader, ca)
	if err != nil {
		return nil, err
	}
	if w.problem = validateAs(ca, cluster); w.problem != nil {
		return w, nil
	}
	w.orig = ca
	if ca, w.selected, err = r.expandTargets(ctx, ca); err != nil {
		return nil, err
	}
	w.ca = ca
	cp, p, err := r.copies.load(ctx, r.Metadata, r.APIReader, ca)
	if err != nil || p != nil {
		w.problem = p
		return w, err
	}
	w.copy = cp
	if ref := ca.Spec.Source.SecretRef; ref != nil {
		s := &corev1.Secret{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ca.Namespace, Name: ref.Name}, s)
		switch {
		case apierrors.IsNotFound(err):
			s = nil
		case err != nil:
			return nil, fmt.Errorf("read source Secret %s/%s: %w", ca.Namespace, ref.Name, err)
		}
		w.source, w.problem = ValidateSourceSecret(ref, s, now)
	}
	// Every problem at once: a bad source does not hide a missing
	// workload or Role (JoinProblems).
	var world *Problem
	if world, w.declared, err = r.checkWorld(ctx, ca); err != nil {
		return w, err
	}
	if w.problem = JoinProblems(nonNil(w.problem, world)); w.problem != nil {
		return w, nil
	}
	o := Observed{
		Mode:          modeOf(ca),
		Generate:      ca.Spec.Source.Generate != nil,
		RotateToken:   ca.Annotations[AnnotationRotate],
		RevertToken:   ca.Annotations[AnnotationRevert],
		Rotation:      ca.Status.Rotation,
		WorkerRunning: r.Workers.Running(client.ObjectKeyFromObject(ca)),
	}
	if w.source != nil {
		o.SourceFP = trust.Fingerprint(w.source.Cert)
	}
	if cp != nil {
		o.ActiveFP = trust.Fingerprint(cp.active.Cert)
		if cp.previous != nil {
			o.PreviousFP = trust.Fingerprint(cp.previous.Cert)
		}
		o.PublishedFP = cp.ann(AnnotationPublished)
		o.PublishedMode = v1alpha1.Mode(cp.ann(AnnotationPublishedMode))
		o.SourceSeenFP = cp.ann(AnnotationSourceSeen)
		o.RotateHandled = cp.ann(AnnotationRotateHandled)
		o.RevertHandled = cp.ann(AnnotationRevertHandled)
		if g := ca.Spec.Source.Generate; g != nil {
			o.RenewalDue = !now.Before(cp.active.Cert.NotAfter.Add(-durationOr(g.RenewBefore, defaultRenewBefore)))
		}
	}
	w.observed = o
	return w, nil
}

func modeOf(ca *v1alpha1.CertificateAuthority) v1alpha1.Mode {
	if ca.Spec.Mode == "" {
		return v1alpha1.ModeManaged
	}
	return ca.Spec.Mode
}

// degraded records a bad-input Problem: Degraded condition, one Warning
// event per new message, nothing else written.
func (r *Reconciler) degraded(ctx context.Context, ca *v1alpha1.CertificateAuthority, w *world, now time.Time) (reconcile.Result, error) {
	old := findCondition(ca.Status.Conditions, v1alpha1.ConditionDegraded)
	if old == nil || old.Status != "True" || old.Message != w.problem.Error() || old.ObservedGeneration != ca.Generation {
		r.Recorder.Eventf(ca, nil, corev1.EventTypeWarning, w.problem.Reason, "Validate", "%s", w.problem.Error())
		log.FromContext(ctx).Info("bad input; nothing written", "reason", w.problem.Reason, "field", w.problem.Field, "message", w.problem.Message)
	}
	st := ca.Status.DeepCopy()
	st.ObservedGeneration = ca.Generation
	st.Conditions = MergeConditions(st.Conditions, Conditions(ConditionInput{
		Generation: ca.Generation, Problem: w.problem, Rotation: ca.Status.Rotation,
	}, now))
	if st.ConsumersConverged == "" {
		// Never published: say so instead of an empty CONSUMERS column.
		st.ConsumersConverged = fmt.Sprintf("0/%d consumers (nothing published)", len(ca.Spec.Consumers))
	}
	if err := r.patchStatus(ctx, ca, st); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: r.resync()}, nil
}

func (r *Reconciler) resync() time.Duration {
	if r.Resync > 0 {
		return r.Resync
	}
	return 5 * time.Minute
}

func (r *Reconciler) requeue(ca *v1alpha1.CertificateAuthority, w *world, now time.Time) time.Duration {
	d := r.resync()
	if g := ca.Spec.Source.Generate; g != nil && w.copy != nil {
		due := w.copy.active.Cert.NotAfter.Add(-durationOr(g.RenewBefore, defaultRenewBefore)).Sub(now)
		if due > 0 && due < d {
			d = due
		}
	}
	return d
}

// writeStatus computes every status field but rotation and patches the
// ones that changed.
func (r *Reconciler) writeStatus(ctx context.Context, ca *v1alpha1.CertificateAuthority, w *world, dec Decision, now time.Time) error {
	key := client.ObjectKeyFromObject(ca)
	st := ca.Status.DeepCopy()
	st.ObservedGeneration = ca.Generation
	rot := ca.Status.Rotation
	open := rot != nil && rot.Outcome == ""
	st.Phase = "Idle"
	if open {
		st.Phase = rot.Phase
	}
	cp := w.copy
	names := make([]string, 0, len(ca.Spec.Consumers))
	for _, c := range ca.Spec.Consumers {
		names = append(names, c.Name)
	}
	gen := cp.generation()
	verified := map[string]int64{}
	converged := cp != nil && cp.ann(AnnotationPublished) == trust.Fingerprint(cp.active.Cert) && !open
	switch prog := r.Workers.Progress(key); {
	case prog != nil:
		gen, verified = prog.Snapshot()
	case converged:
		for _, n := range names {
			verified[n] = gen
		}
	default:
		for _, c := range ca.Status.Consumers {
			verified[c.Name] = c.BundleGeneration
		}
	}
	st.BundleGeneration = gen
	var text string
	st.Consumers, text = Convergence(names, verified, gen)
	st.ConsumersConverged = text
	n := 0
	for _, c := range st.Consumers {
		if c.BundleGeneration >= gen {
			n++
		}
	}
	r.Metrics.SetConverged(key.String(), gen, n)
	st.Active, st.Previous = nil, nil
	var activeNotAfter, previousNotAfter time.Time
	if cp != nil {
		st.Active = caInfo(cp.active)
		activeNotAfter = cp.active.Cert.NotAfter
		if cp.previous != nil {
			st.Previous = previousInfos(cp)
			previousNotAfter = cp.previous.Cert.NotAfter
		}
	}
	r.Metrics.SetExpiry(key.String(), activeNotAfter, previousNotAfter, now)
	if !open {
		r.Metrics.SetPhase(key.String(), "Idle")
	}
	st.Queued = dec.Queued
	st.TrustBundleNamespaces = w.selected
	undeclared, err := r.inventory(ctx, ca, w.declared)
	if err != nil {
		return err
	}
	if !equality.Semantic.DeepEqual(undeclared, ca.Status.UndeclaredConsumers) && len(undeclared) > 0 {
		r.Recorder.Eventf(ca, nil, corev1.EventTypeWarning, "UndeclaredConsumers", "Inventory",
			"%d pod(s) mount a target but are not declared in spec.consumers (a rotation may break them): %s", len(undeclared), refsText(undeclared))
	}
	st.UndeclaredConsumers = undeclared
	st.Conditions = MergeConditions(st.Conditions, Conditions(ConditionInput{
		Generation: ca.Generation, Rotation: rot, Converged: converged, Consumers: text,
	}, now))
	return r.patchStatus(ctx, ca, st)
}

func refsText(refs []v1alpha1.ObjectReference) string {
	out := ""
	for i, ref := range refs {
		if i == 5 {
			return out + fmt.Sprintf(" and %d more", len(refs)-5)
		}
		if i > 0 {
			out += ", "
		}
		out += ref.Namespace + "/" + ref.Name
	}
	return out
}

// patchStatus merge-patches every status field but rotation when st differs
// from ca.Status (fields that became empty are sent as null).
func (r *Reconciler) patchStatus(ctx context.Context, ca *v1alpha1.CertificateAuthority, st *v1alpha1.CertificateAuthorityStatus) error {
	st.Phase, st.Reason = SummaryOf(st)
	cur := ca.Status.DeepCopy()
	cur.Rotation, st.Rotation = nil, nil
	if equality.Semantic.DeepEqual(cur, st) {
		return nil
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for _, k := range []string{"observedGeneration", "conditions", "phase", "reason", "bundleGeneration", "active", "previous", "queued", "consumers", "consumersConverged", "undeclaredConsumers"} {
		if _, ok := m[k]; !ok {
			m[k] = nil
		}
	}
	delete(m, "rotation")
	patch, err := json.Marshal(map[string]any{"status": m})
	if err != nil {
		return err
	}
	if err := r.Client.Status().Patch(ctx, ca, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("patch status of %s/%s: %w", ca.Namespace, ca.Name, err)
	}
	// The patch returned the object as stored (readCA).
	r.latest.saw(client.ObjectKeyFromObject(ca), ca.ResourceVersion)
	return nil
}
