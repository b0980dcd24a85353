package controllercanary

import (
	"context"
	"fmt"
	"strings"
	"sync"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/plan"
)

// Condition reasons of a ControllerCanary.
const (
	ReasonInvalidSpec     = "InvalidSpec"
	ReasonUnknownResource = "UnknownResource"
	ReasonNothingSelected = "NothingSelected"
	ReasonValid           = "Valid"
	ReasonRunning         = "Running"
	ReasonPaused          = "Paused"
	ReasonEnded           = "Ended"
)

// Reconciler validates each ControllerCanary and runs its plan in a worker
// goroutine (one per canary), checkpointed in status so a restarted
// controller resumes. spec.paused stops the worker without rollback (it
// resumes when cleared); spec.revert makes the running weight step fail and
// the plan roll back.
type Reconciler struct {
	Client client.Client
	Reader client.Reader // uncached
	Mapper meta.RESTMapper
	Config *rest.Config // handover's own; impersonated for the enforcement gate
	Server *canary.Server
	// WebhookService, when set, is the Service the apiserver reaches Server
	// through (in a cluster); nil = Server.URL().
	WebhookService *admv1.ServiceReference
	Recorder       events.EventRecorder
	Clock          clock.Clock

	mu      sync.Mutex
	workers map[string]*worker // by ControllerCanary name
	ledgers map[string]*canary.Ledger
}

type worker struct {
	cancel     context.CancelFunc
	done       chan struct{}
	generation int64
}

// Reconcile is the entry point; see the type's doc.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	cc := &v1alpha1.ControllerCanary{}
	if err := r.Client.Get(ctx, req.NamespacedName, cc); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.stop(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if cc.Status.Outcome != "" {
		r.stop(cc.Name)
		return reconcile.Result{}, r.setCondition(ctx, cc, v1alpha1.CanaryConditionProgressing, metav1.ConditionFalse, ReasonEnded, "plan ended "+cc.Status.Outcome+": "+cc.Status.Reason)
	}
	kinds, reason, msg := r.validate(ctx, cc)
	if reason != "" {
		// Nothing is changed: no worker starts, no policy is installed.
		r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, reason, reason, "%s", msg)
		return reconcile.Result{}, r.setCondition(ctx, cc, v1alpha1.CanaryConditionValid, metav1.ConditionFalse, reason, msg)
	}
	if err := r.setCondition(ctx, cc, v1alpha1.CanaryConditionValid, metav1.ConditionTrue, ReasonValid, "spec is valid"); err != nil {
		return reconcile.Result{}, err
	}
	if cc.Spec.Paused {
		r.stop(cc.Name)
		return reconcile.Result{}, r.setCondition(ctx, cc, v1alpha1.CanaryConditionProgressing, metav1.ConditionFalse, ReasonPaused, "spec.paused: the plan stopped where it was; clear it to resume")
	}
	r.start(ctx, cc, kinds)
	return reconcile.Result{}, r.setCondition(ctx, cc, v1alpha1.CanaryConditionProgressing, metav1.ConditionTrue, ReasonRunning, "plan running")
}

// validate returns the main and controlled kinds, or a reason and message
// naming the field: Validate, then CheckResources, then every main
// resource's selectors must select at least one object.
func (r *Reconciler) validate(ctx context.Context, cc *v1alpha1.ControllerCanary) ([]schema.GroupVersionKind, string, string) {
	if errs := canary.Validate(cc); len(errs) > 0 {
		return nil, ReasonInvalidSpec, fmt.Sprintf("controllercanary %s: %v", cc.Name, errs.ToAggregate())
	}
	kinds, errs := canary.CheckResources(cc, r.Mapper)
	if len(errs) > 0 {
		return nil, ReasonUnknownResource, fmt.Sprintf("controllercanary %s: %v", cc.Name, errs.ToAggregate())
	}
	msg, err := r.checkAccess(ctx, cc)
	if err != nil {
		return nil, ReasonForbidden, fmt.Sprintf("controllercanary %s: %v", cc.Name, err)
	}
	if msg != "" {
		return nil, ReasonForbidden, fmt.Sprintf("controllercanary %s: %s", cc.Name, msg)
	}
	for i, res := range cc.Spec.Resources {
		scope, err := canary.ScopeOf(ctx, r.Reader, res, "")
		if err != nil {
			return nil, ReasonInvalidSpec, fmt.Sprintf("controllercanary %s: spec.resources[%d].%v", cc.Name, i, err)
		}
		one, err := scope.ListMeta(ctx, r.Reader, kinds[i], 1)
		if err != nil {
			return nil, ReasonNothingSelected, fmt.Sprintf("controllercanary %s: spec.resources[%d]: %v", cc.Name, i, err)
		}
		if len(one) == 0 {
			return nil, ReasonNothingSelected, fmt.Sprintf("controllercanary %s: spec.resources[%d] (%s) selects no object", cc.Name, i, canary.GVR(res).String())
		}
	}
	return kinds, "", ""
}

func (r *Reconciler) setCondition(ctx context.Context, cc *v1alpha1.ControllerCanary, typ string, status metav1.ConditionStatus, reason, msg string) error {
	base := cc.DeepCopy()
	changed := meta.SetStatusCondition(&cc.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: cc.Generation,
	})
	if !changed && cc.Status.ObservedGeneration == cc.Generation {
		return nil
	}
	cc.Status.ObservedGeneration = cc.Generation
	if err := r.Client.Status().Patch(ctx, cc, client.MergeFrom(base)); err != nil {
		err = fmt.Errorf("controllercanary %s: write condition %s: %w", cc.Name, typ, err)
		r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, "StatusWriteFailed", "StatusWriteFailed", "%s", err.Error())
		return err
	}
	return nil
}

// ledger returns the deletion ledger of cc (one per name, kept across
// worker restarts in this process), opening the breaker condition on trip.
func (r *Reconciler) ledger(cc *v1alpha1.ControllerCanary) *canary.Ledger {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ledgers == nil {
		r.ledgers = map[string]*canary.Ledger{}
	}
	if l, ok := r.ledgers[cc.Name]; ok {
		return l
	}
	name := cc.Name
	l := canary.NewLedger(canary.BudgetOf(cc), r.Clock, func(rev string, t canary.Trip) {
		ctx := context.Background()
		cur := &v1alpha1.ControllerCanary{}
		if err := r.Reader.Get(ctx, client.ObjectKey{Name: name}, cur); err != nil {
			r.Recorder.Eventf(&v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: name}}, nil, corev1.EventTypeWarning, "BreakerOpen", "BreakerOpen", "%s",
				fmt.Sprintf("revision %s: %s (status not written: %v)", rev, t.Reason, err))
			return
		}
		base := cur.DeepCopy()
		cur.Status.Breaker = v1alpha1.BreakerStatus{Open: true, Revision: rev, Reason: t.Reason, OpenedAt: &metav1.Time{Time: t.At}}
		meta.SetStatusCondition(&cur.Status.Conditions, metav1.Condition{Type: v1alpha1.CanaryConditionBreakerOpen, Status: metav1.ConditionTrue,
			Reason: "BudgetExceeded", Message: t.Reason, ObservedGeneration: cur.Generation})
		r.Recorder.Eventf(cur, nil, corev1.EventTypeWarning, "BreakerOpen", "BreakerOpen", "%s", "revision "+rev+": "+t.Reason)
		if err := r.Client.Status().Patch(ctx, cur, client.MergeFrom(base)); err != nil {
			r.Recorder.Eventf(cur, nil, corev1.EventTypeWarning, "StatusWriteFailed", "StatusWriteFailed", "%s",
				fmt.Sprintf("controllercanary %s: write status.breaker: %v", name, err))
		}
	})
	r.ledgers[cc.Name] = l
	return l
}

// start runs cc's plan in a worker unless one runs for this generation.
func (r *Reconciler) start(ctx context.Context, cc *v1alpha1.ControllerCanary, kinds []schema.GroupVersionKind) {
	r.mu.Lock()
	if r.workers == nil {
		r.workers = map[string]*worker{}
	}
	if w, ok := r.workers[cc.Name]; ok {
		r.mu.Unlock()
		select {
		case <-w.done:
		default:
			return // running
		}
		r.mu.Lock()
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &worker{cancel: cancel, done: make(chan struct{}), generation: cc.Generation}
	r.workers[cc.Name] = w
	r.mu.Unlock()
	go func() {
		defer close(w.done)
		r.run(wctx, cc.DeepCopy(), kinds)
	}()
}

// stop cancels cc's worker and waits for it; a cancelled plan is not rolled
// back (RollbackOnCancel false) and resumes from the checkpoint.
func (r *Reconciler) stop(name string) {
	r.mu.Lock()
	w, ok := r.workers[name]
	delete(r.workers, name)
	r.mu.Unlock()
	if ok {
		w.cancel()
		<-w.done
	}
}

// Stop cancels every worker (the manager is stopping).
func (r *Reconciler) Stop() {
	r.mu.Lock()
	names := make([]string, 0, len(r.workers))
	for n := range r.workers {
		names = append(names, n)
	}
	r.mu.Unlock()
	for _, n := range names {
		r.stop(n)
	}
}

func (r *Reconciler) run(ctx context.Context, cc *v1alpha1.ControllerCanary, kinds []schema.GroupVersionKind) {
	logger := log.FromContext(ctx).WithValues("controllercanary", cc.Name)
	ledger := r.ledger(cc)
	// A breaker that opened under another process (the former leader)
	// stays open: the resumed plan must fail and roll back.
	if cur := (&v1alpha1.ControllerCanary{}); r.Reader.Get(ctx, client.ObjectKey{Name: cc.Name}, cur) == nil && cur.Status.Breaker.Open {
		t := canary.Trip{Reason: cur.Status.Breaker.Reason}
		if cur.Status.Breaker.OpenedAt != nil {
			t.At = cur.Status.Breaker.OpenedAt.Time
		}
		ledger.Restore(cur.Status.Breaker.Revision, t)
	}
	kindMap := map[schema.GroupKind]schema.GroupVersionKind{}
	for _, k := range kinds[:len(cc.Spec.Resources)] {
		kindMap[k.GroupKind()] = k
	}
	current := func(ctx context.Context) (*v1alpha1.ControllerCanary, error) {
		cur := &v1alpha1.ControllerCanary{}
		return cur, r.Client.Get(ctx, client.ObjectKey{Name: cc.Name}, cur)
	}
	// The canary's objects are read and written uncached: a cache would
	// start cluster-wide informers for every resource a canary names, which
	// needs list/watch everywhere, not only in the selected namespaces.
	direct, err := client.New(relabelConfig(r.Config), client.Options{Scheme: r.Client.Scheme(), Mapper: r.Mapper})
	if err != nil {
		r.degraded(ctx, cc, "PlanError", fmt.Errorf("controllercanary %s: client: %w", cc.Name, err))
		return
	}
	denied := &canary.DeniedWrites{Revision: cc.Spec.Canary.Revision}
	if cc.Spec.Analysis.MaxDeniedWrites != nil {
		dc, err := discovery.NewDiscoveryClientForConfig(r.Config)
		if err != nil {
			r.degraded(ctx, cc, "PlanError", fmt.Errorf("controllercanary %s: apiserver metrics client: %w", cc.Name, err))
			return
		}
		rc, policy := dc.RESTClient(), canary.PolicyName(cc.Name)
		denied.Scrape = func(ctx context.Context) (float64, error) { return canary.ScrapePolicyDenials(ctx, rc, policy) }
	}
	wh := &canary.Webhook{Canary: current, Reader: direct, Ledger: ledger, Kinds: kindMap,
		Children: kinds[len(cc.Spec.Resources):], OnDecision: denied.Observe}
	imp := rest.CopyConfig(r.Config)
	imp.Impersonate = rest.ImpersonationConfig{UserName: cc.Spec.Canary.Identity}
	canaryClient, err := client.New(imp, client.Options{Scheme: r.Client.Scheme(), Mapper: r.Mapper})
	if err != nil {
		r.degraded(ctx, cc, "PlanError", fmt.Errorf("controllercanary %s: client as %s: %w", cc.Name, cc.Spec.Canary.Identity, err))
		return
	}
	report := newStatusReport(r.Client, r.Reader, r.Recorder, r.Clock, cc, ledger)
	defer report.flush(ctx, true)
	cp := &StatusCheckpoint{Client: r.Client, Reader: r.Reader, Name: cc.Name, Plan: canary.PlanName(cc.Name)}
	pcfg := canary.Config{
		Client: direct, CanaryClient: canaryClient, Canary: cc, Kinds: kinds,
		WebhookURL: r.Server.URL(), WebhookService: r.WebhookService, CABundle: r.Server.CABundle(), Ledger: ledger, Current: current, Clock: r.Clock,
		Pauses: cp, DeniedWrites: denied, OnGate: report.Gate, OnOwned: report.Owned,
	}
	// spec.shadow and spec.members (issue 15): one shadow record for the
	// webhook and the plan, member clients and webhooks on the same ledger.
	if err := canary.Extend(ctx, r.Reader, r.extensionNamespace(), r.Client.Scheme(), r.Clock, cc, wh, &pcfg, r.Server.Handle); err != nil {
		r.degraded(ctx, cc, "MemberError", fmt.Errorf("controllercanary %s: %w", cc.Name, err))
		return
	}
	r.Server.Handle(canary.WebhookPath(cc.Name), wh)
	p, err := canary.NewPlan(pcfg)
	if err != nil {
		r.degraded(ctx, cc, "PlanFailed", err)
		return
	}
	// A resumed plan skips its Done enforce step: point an installed webhook
	// configuration at this process's server and CA.
	if err := canary.RefreshWebhook(ctx, direct, pcfg.Webhook()); err != nil {
		r.degraded(ctx, cc, "PlanError", fmt.Errorf("controllercanary %s: %w", cc.Name, err))
		return
	}
	r.clearDegraded(ctx, cc)
	runner := &plan.Runner{
		Checkpoint: cp,
		Clock:      r.Clock,
		Observers: []plan.Observer{plan.ObserverFunc(func(e plan.Event) {
			switch e.Kind {
			case plan.EventPlanStarted:
				how := "started"
				if e.Reason != "" {
					how = e.Reason // "resumed" from the status checkpoint
				}
				r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, "PlanStarted", "PlanStarted", "%s", "plan "+how)
			case plan.EventStepFailed:
				r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, "StepFailed", "StepFailed", "%s", e.Step+": "+e.Reason)
			case plan.EventStepDone:
				r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, "StepDone", "StepDone", "%s", e.Step)
			case plan.EventPlanEnded:
				r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, "Plan"+string(e.Outcome), "Plan"+string(e.Outcome), "%s", strings.TrimSpace(e.Reason))
			}
		})},
	}
	if _, err := runner.Run(ctx, p); err != nil && ctx.Err() == nil {
		logger.Error(err, "plan stopped")
		r.degraded(ctx, cc, "PlanError", err)
	}
}

// clearDegraded sets Degraded False once a plan could be built again (only
// when the condition is there; a failed write is an event, see setCondition).
func (r *Reconciler) clearDegraded(ctx context.Context, cc *v1alpha1.ControllerCanary) {
	cur := &v1alpha1.ControllerCanary{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: cc.Name}, cur); err != nil || !meta.IsStatusConditionTrue(cur.Status.Conditions, v1alpha1.ConditionDegraded) {
		return
	}
	_ = r.setCondition(ctx, cur, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonRunning, "plan built and running") // a failure is an event
}

// degraded reports err on cc: a Warning event and the Degraded condition
// (True, reason) — never only a log line. A failed condition write is an
// event too.
func (r *Reconciler) degraded(ctx context.Context, cc *v1alpha1.ControllerCanary, reason string, err error) {
	r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, reason, reason, "%s", err.Error())
	cur := &v1alpha1.ControllerCanary{}
	if gerr := r.Reader.Get(context.WithoutCancel(ctx), client.ObjectKey{Name: cc.Name}, cur); gerr != nil {
		r.Recorder.Eventf(cc, nil, corev1.EventTypeWarning, "StatusWriteFailed", "StatusWriteFailed", "%s", gerr.Error())
		return
	}
	_ = r.setCondition(context.WithoutCancel(ctx), cur, v1alpha1.ConditionDegraded, metav1.ConditionTrue, reason, err.Error()) // a failure is an event
}

// relabelConfig is cfg for the canary's objects: without a rate limit of
// its own (QPS 0 is client-go's default of 5 requests/s, which would make a
// 10,000-object step take over half an hour) the client side is unlimited
// and the apiserver's priority and fairness bounds it, as
// controller-runtime's config loader does by default.
func relabelConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	if c.QPS == 0 && c.RateLimiter == nil {
		c.QPS = -1
	}
	return c
}
