package canary

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
)

// PauseStore persists the start of a weight step's pause ("waits are gates,
// not sleeps": the deadline is a persisted timestamp + the pause).
type PauseStore interface {
	// PauseStarted returns when step's pause began, if recorded.
	PauseStarted(ctx context.Context, step string) (time.Time, bool, error)
	// SetPauseStarted records it.
	SetPauseStarted(ctx context.Context, step string, at time.Time) error
}

// Step names of a canary plan (the weight steps are named by StepName).
const (
	StepEnforce = "enforce"
	StepPromote = "promote"
)

// PlanName is the name of the plan of the ControllerCanary named canary.
func PlanName(canary string) string { return "controllercanary-" + canary }

// StepName is the name of the weight step at index i (0-based) of
// spec.steps: "step-<i+1>-weight-<weight>".
func StepName(i int, weight int32) string { return fmt.Sprintf("step-%d-weight-%d", i+1, weight) }

// Config is what NewPlan needs. Canary must have passed Validate and
// CheckResources (Kinds are the main resources' kinds, index-aligned with
// spec.resources).
type Config struct {
	// Client is handover's own client (not a version's identity).
	Client client.Client
	// CanaryClient carries the canary's identity; the enforce gate makes a
	// dry-run write with it to see the policy bite.
	CanaryClient client.Client
	Canary       *v1alpha1.ControllerCanary
	Kinds        []schema.GroupVersionKind
	// Namespace limits relabelling to one namespace ("" = all).
	Namespace string
	// WebhookURL and CABundle point the webhook configuration at handover;
	// WebhookService, when set, replaces WebhookURL (a controller in the
	// cluster behind a Service).
	WebhookURL     string
	WebhookService *admv1.ServiceReference
	CABundle       []byte
	// Ledger is the webhook's; its breaker is the guard of every step.
	Ledger *Ledger
	// Reconciled, when set, replaces the reconciled gate of each weight step
	// (did the canary reconcile the objects it now owns?). nil = the spec's:
	// analysis.reconciledCondition on the main objects the canary owns
	// (ReadReconciled, ReconciledGate), within analysis.reconcileTimeout of
	// the step's relabel, evaluated at most once a second.
	Reconciled func(ctx context.Context, weight int32) plan.Result
	// DeniedWrites counts the canary's denied writes for the
	// analysis.maxDeniedWrites gate; required when that is set (NewPlan
	// errors otherwise), ignored when it is not.
	DeniedWrites *DeniedWrites
	// OnGate, when set, receives every gate verdict of every weight-step
	// check (name is a Gate* constant; a Done's Reason describes the pass).
	OnGate func(name string, r plan.Result)
	// OnOwned, when set, receives the number of main objects each revision
	// owns after every relabel (forwards and back).
	OnOwned func(owned map[string]int)
	// OnMove is called for every object relabelled (may be nil).
	OnMove func(Move)
	// OnRevert is called right after the revert switch was written.
	OnRevert func()
	// OnPromote is called by the promote step's Apply, before it returns:
	// stop the stable version there.
	OnPromote func(ctx context.Context) error
	// Current, when set, reads the ControllerCanary as it is now; a weight
	// step's gate fails (and the plan rolls back) once spec.revert is true,
	// so a user's revert switch also ends the plan.
	Current func(ctx context.Context) (*v1alpha1.ControllerCanary, error)
	// Pauses persists when each step's pause began, so a restarted
	// controller resumes the same wait (nil = in memory only).
	Pauses PauseStore
	// HTTPClient scrapes spec.canary.metricsEndpoint for the error-ratio
	// gate (nil = http.DefaultClient).
	HTTPClient *http.Client
	Clock      clock.Clock
	// Shadow is the webhook's shadow record (required when spec.shadow is
	// set); ShadowNamespace holds its ConfigMap ("" =
	// DefaultShadowNamespace).
	Shadow          *ShadowLog
	ShadowNamespace string
	// Members are the member clusters (spec.members) the enforce step
	// installs the webhook into (InstallMember); their webhooks must share
	// Ledger so the budget counts deletes in every cluster.
	Members []Member
}

// NewPlan builds the canary plan: with WantsPreflight a "preflight" step
// (the version-skew preflight of the cluster as it is; again as
// "preflight-promote" right before "promote"), "enforce" (install the policy, binding and
// webhook configuration; gate: a dry-run write by the canary's identity on a
// stable object is denied), with spec.shadow a "shadow" step (shadowStep:
// weight 0, every canary write denied and recorded, judged by ShadowGate),
// one weight step per spec.steps (relabel to the
// weight; gates: the breaker is closed, spec.revert unset, the reconcile
// error ratio from spec.canary.metricsEndpoint within
// analysis.maxErrorPercent, Reconciled, the step's pause elapsed), then
// "promote", the point of no return. Before it any failure reverts: the weight steps' Revert writes spec.revert=true (one
// write: the switch) then relabels every object back to stable; enforcement
// stays installed so the canary stays fenced.
//
// The breaker is checked in every weight step's Check, so a budget breach at
// any time before promotion fails the running step and rolls back.
func NewPlan(cfg Config) (*plan.Plan, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	cc := cfg.Canary
	if len(cfg.Kinds) < len(cc.Spec.Resources) {
		return nil, fmt.Errorf("controllercanary %s: %d kinds for %d spec.resources: run CheckResources first", cc.Name, len(cfg.Kinds), len(cc.Spec.Resources))
	}
	if cc.Spec.Analysis.MaxDeniedWrites != nil && cfg.DeniedWrites == nil {
		return nil, fmt.Errorf("controllercanary %s: spec.analysis.maxDeniedWrites is set but Config.DeniedWrites is nil", cc.Name)
	}
	if cfg.Reconciled == nil {
		cfg.Reconciled = specReconciled(&cfg)
	}
	var steps []plan.Step
	if WantsPreflight(cc) {
		steps = append(steps, &preflightStep{cfg: &cfg, name: StepPreflight})
	}
	steps = append(steps, &enforceStep{cfg: &cfg})
	if cc.Spec.Shadow != nil {
		steps = append(steps, &shadowStep{cfg: &cfg})
	}
	reverted := &revertOnce{}
	for i, s := range cc.Spec.Steps {
		var pause time.Duration
		if s.Pause != nil {
			pause = s.Pause.Duration
		}
		ws := &weightStep{cfg: &cfg, name: StepName(i, s.Weight), weight: s.Weight, pause: pause, reverted: reverted}
		ws.drained = Throttle(time.Second, cfg.Clock, ws.drainedNow)
		steps = append(steps, ws)
	}
	if WantsPreflight(cc) {
		steps = append(steps, &preflightStep{cfg: &cfg, name: StepPreflightPromote})
	}
	steps = append(steps, &promoteStep{cfg: &cfg})
	return &plan.Plan{
		Name:            PlanName(cc.Name),
		Steps:           steps,
		PointOfNoReturn: len(steps) - 1,
		PollInterval:    100 * time.Millisecond,
	}, nil
}

type enforceStep struct{ cfg *Config }

func (s *enforceStep) Name() string { return StepEnforce }

func (s *enforceStep) Describe() string {
	return "install " + describePolicy(s.cfg.Canary) + " and its webhook"
}

func (s *enforceStep) Apply(ctx context.Context) error {
	if err := InstallWith(ctx, s.cfg.Client, s.cfg.Canary, s.cfg.Webhook()); err != nil {
		return err
	}
	for _, m := range s.cfg.Members {
		if err := InstallMember(ctx, m, s.cfg.Canary, s.cfg.WebhookURL, s.cfg.CABundle); err != nil {
			return err
		}
	}
	return nil
}

// Webhook is the webhook configuration cfg installs (URL or Service).
func (cfg *Config) Webhook() *admv1.ValidatingWebhookConfiguration {
	if cfg.WebhookService != nil {
		return WebhookConfigurationForService(cfg.Canary, *cfg.WebhookService, cfg.CABundle)
	}
	return WebhookConfiguration(cfg.Canary, cfg.WebhookURL, cfg.CABundle)
}

// Check makes a dry-run no-op patch, as the canary, of one object the
// stable version owns; Done when the policy denies it.
func (s *enforceStep) Check(ctx context.Context) plan.Result {
	return EnforcementActive(ctx, s.cfg.Client, s.cfg.CanaryClient, s.cfg.Canary, s.cfg.Kinds, s.cfg.Namespace)
}

// Revert leaves enforcement installed: the weight steps' Revert already
// handed everything to stable with the switch, and the canary must stay
// fenced until someone stops it (Uninstall removes it).
func (s *enforceStep) Revert(context.Context) error { return nil }

// EnforcementActive is Done when a dry-run no-op patch by canary (a client
// with the canary's identity) of one stable-owned main object is denied
// (the policy is loaded and bites), NotYet while it is allowed, and Done
// when there is no stable-owned object to try (nothing to protect).
func EnforcementActive(ctx context.Context, admin, canary client.Client, cc *v1alpha1.ControllerCanary, kinds []schema.GroupVersionKind, namespace string) plan.Result {
	for _, gvk := range kinds[:len(cc.Spec.Resources)] {
		items, err := listInScope(ctx, admin, cc, gvk, namespace, 50)
		if err != nil {
			return plan.NotYet(err.Error())
		}
		for i := range items {
			o := &items[i]
			if RevisionOf(o.Labels, v1alpha1.LabelControllerRevision, cc.Spec.Stable.Revision, cc.Spec.Revert) != cc.Spec.Stable.Revision {
				continue
			}
			err := canary.Patch(ctx, o, client.RawPatch("application/merge-patch+json", []byte(`{}`)), client.DryRunAll)
			if err == nil {
				return plan.NotYet(fmt.Sprintf("policy not loaded yet: %s %s/%s still writable by %s", gvk.Kind, o.Namespace, o.Name, cc.Spec.Canary.Identity))
			}
			return plan.Done()
		}
	}
	return plan.Done()
}

type weightStep struct {
	cfg      *Config
	name     string
	weight   int32
	pause    time.Duration
	reverted *revertOnce

	mu     sync.Mutex
	passed time.Time // first time every gate passed (pause runs from here)
	// drained is drainedNow at most once a second (Throttle).
	drained  func(context.Context) plan.Result
	applied  bool
	baseline *Reconciles // canary's reconcile counters when the step began
}

func (s *weightStep) Name() string { return s.name }

func (s *weightStep) Describe() string {
	return fmt.Sprintf("hand %d %% of the objects to revision %s; gates: breaker closed, error ratio, denied writes, reconciled, pause %s", s.weight, s.cfg.Canary.Spec.Canary.Revision, s.pause)
}

func (s *weightStep) Apply(ctx context.Context) error {
	if err := s.guard(); err != nil {
		return plan.Permanent(err)
	}
	if _, err := relabelAll(ctx, s.cfg, s.weight, false); err != nil {
		return err
	}
	s.mu.Lock()
	s.applied = true
	s.mu.Unlock()
	return nil
}

func (s *weightStep) guard() error {
	if t, open := s.cfg.Ledger.Tripped(s.cfg.Canary.Spec.Canary.Revision); open {
		return fmt.Errorf("%w at %s: %s", ErrBreakerTripped, t.At.UTC().Format(time.RFC3339Nano), t.Reason)
	}
	return nil
}

// Check evaluates every gate (reporting each verdict to OnGate): the
// deletion budget's breaker, spec.revert (fails at once), the reconcile
// error ratio, denied writes, reconciled. A Failed gate fails the step
// (the plan rolls back before promotion); a NotYet holds it; then the pause.
func (s *weightStep) Check(ctx context.Context) plan.Result {
	var failed, wait *plan.Result
	note := func(name string, r plan.Result) {
		if s.cfg.OnGate != nil {
			s.cfg.OnGate(name, r)
		}
		switch {
		case r.State == plan.CheckFailed && failed == nil:
			failed = &plan.Result{State: r.State, Reason: name + ": " + r.Reason}
		case r.State == plan.CheckNotYet && wait == nil:
			wait = &plan.Result{State: r.State, Reason: name + ": " + r.Reason}
		}
	}
	if err := s.guard(); err != nil {
		note(GateDeletionBudget, plan.Failed(err.Error()))
		return *failed
	}
	note(GateDeletionBudget, s.budget())
	promote := false
	if s.cfg.Current != nil {
		cur, err := s.cfg.Current(ctx)
		if err != nil {
			return plan.NotYet(fmt.Sprintf("read controllercanary %s: %v", s.cfg.Canary.Name, err))
		}
		if cur.Spec.Revert {
			return plan.Failed(fmt.Sprintf("controllercanary %s: spec.revert is set", s.cfg.Canary.Name))
		}
		if cur.Annotations[v1alpha1.AnnotationPromote] == "true" {
			promote = true
		}
	}
	// Only a Failed error ratio matters: a canary with nothing to reconcile
	// does not hold the step.
	if r := s.errorRatio(ctx); r.State == plan.CheckNotYet {
		if s.cfg.OnGate != nil {
			s.cfg.OnGate(GateErrorRatio, r)
		}
	} else {
		note(GateErrorRatio, r)
	}
	note(GateDeniedWrites, s.deniedWrites(ctx))
	if s.cfg.Canary.Spec.Stable.AcknowledgesDrain {
		note(GateDrained, s.drained(ctx))
	}
	note(GateReconciled, s.cfg.Reconciled(ctx, s.weight))
	if failed != nil {
		return *failed
	}
	if wait != nil {
		return *wait
	}
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	if s.passed.IsZero() && s.cfg.Pauses != nil && s.pause > 0 {
		if t, ok, err := s.cfg.Pauses.PauseStarted(ctx, s.name); err == nil && ok {
			s.passed = t
		}
	}
	fresh := s.passed.IsZero()
	if fresh {
		s.passed = now
	}
	left := s.passed.Add(s.pause).Sub(now)
	s.mu.Unlock()
	if fresh && s.cfg.Pauses != nil && s.pause > 0 {
		if err := s.cfg.Pauses.SetPauseStarted(ctx, s.name, now); err != nil {
			return plan.NotYet(fmt.Sprintf("persist the pause start: %v", err))
		}
	}
	if left > 0 && !promote {
		return plan.NotYet(fmt.Sprintf("gates hold; pause %s left", left.Round(time.Millisecond)))
	}
	return plan.Done()
}

// drainedNow is the drain handshake's gate (spec.stable.acknowledgesDrain;
// the step calls it through Throttle, at most once a second): it relabels
// again, which moves the objects the stable version acknowledged, and is
// Done when none waits; NotYet while some do, Failed when some still wait
// analysis.reconcileTimeout after the step's relabel (the stable version
// is not acknowledging).
func (s *weightStep) drainedNow(ctx context.Context) plan.Result {
	pending, err := relabelAll(ctx, s.cfg, s.weight, false)
	switch {
	case err != nil:
		return plan.NotYet(fmt.Sprintf("relabel: %v", err))
	case pending == 0:
		return plan.Result{State: plan.CheckDone, Reason: "every object moved after its drain was acknowledged"}
	default:
		since, _ := plan.AppliedAt(ctx)
		return DrainGate(pending, s.cfg.Canary.Spec.Stable.Revision, since, s.cfg.Clock.Now(), reconcileTimeout(s.cfg.Canary))
	}
}

// budget is the deletion budget's verdict while the breaker is closed:
// Done, describing the canary's deletes in the window.
func (s *weightStep) budget() plan.Result {
	b := BudgetOf(s.cfg.Canary)
	n := s.cfg.Ledger.Count(s.cfg.Canary.Spec.Canary.Revision)
	return plan.Result{State: plan.CheckDone, Reason: fmt.Sprintf("%d deletes in the last %s, deletionBudget.maxDeletes %d", n, b.Window, b.MaxDeletes)}
}

// deniedWrites is the maxDeniedWrites gate (DeniedWritesGate); Done when
// it is off. A count error is NotYet.
func (s *weightStep) deniedWrites(ctx context.Context) plan.Result {
	maxDenied := s.cfg.Canary.Spec.Analysis.MaxDeniedWrites
	if maxDenied == nil {
		return plan.Result{State: plan.CheckDone, Reason: "off (analysis.maxDeniedWrites unset)"}
	}
	n, err := s.cfg.DeniedWrites.Count(ctx)
	if err != nil {
		return plan.NotYet(fmt.Sprintf("count denied writes: %v", err))
	}
	r := DeniedWritesGate(n, maxDenied)
	if r.State == plan.CheckDone {
		r.Reason = fmt.Sprintf("%d denied, analysis.maxDeniedWrites %d", n, *maxDenied)
	}
	return r
}

// specReconciled is the reconciled gate from the spec (see
// Config.Reconciled), throttled to once a second per step (a step never
// sees the previous step's cached verdict).
func specReconciled(cfg *Config) func(context.Context, int32) plan.Result {
	var (
		mu  sync.Mutex
		per = map[int32]func(context.Context) plan.Result{}
	)
	return func(ctx context.Context, weight int32) plan.Result {
		mu.Lock()
		f, ok := per[weight]
		if !ok {
			f = Throttle(time.Second, cfg.Clock, func(ctx context.Context) plan.Result { return reconciledNow(ctx, cfg) })
			per[weight] = f
		}
		mu.Unlock()
		return f(ctx)
	}
}

// reconciledNow reads the canary's main objects and applies ReconciledGate.
func reconciledNow(ctx context.Context, cfg *Config) plan.Result {
	cc := cfg.Canary
	timeout := reconcileTimeout(cc)
	var objs []ObjectReconcile
	for _, gvk := range cfg.Kinds[:len(cc.Spec.Resources)] {
		o, err := ReadReconciled(ctx, cfg.Client, cc, gvk, cfg.Namespace)
		if err != nil {
			return plan.NotYet(err.Error())
		}
		objs = append(objs, o...)
	}
	since, _ := plan.AppliedAt(ctx)
	r := ReconciledGate(objs, cc.Spec.Analysis.ReconciledCondition, cc.Spec.Canary.Revision, since, cfg.Clock.Now(), timeout)
	if r.State == plan.CheckDone {
		r.Reason = fmt.Sprintf("%d objects of revision %s reconciled", len(objs), cc.Spec.Canary.Revision)
	}
	return r
}

// errorRatio is the reconcile-error gate when the canary has a metrics
// endpoint: the first call takes the baseline, later calls compare
// (ErrorRatioGate). Only Failed matters to Check: a canary with nothing to
// reconcile does not hold the step. A scrape error is NotYet.
func (s *weightStep) errorRatio(ctx context.Context) plan.Result {
	url := s.cfg.Canary.Spec.Canary.MetricsEndpoint
	if url == "" {
		return plan.Result{State: plan.CheckDone, Reason: "off (canary.metricsEndpoint unset)"}
	}
	now, err := ScrapeReconciles(ctx, s.cfg.HTTPClient, url)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.baseline == nil {
		s.baseline = &now
		return plan.NotYet("error-ratio baseline taken")
	}
	return ErrorRatioGate(*s.baseline, now, s.cfg.Canary.Spec.Analysis.MaxErrorPercent)
}

// Revert throws the switch (once per plan) and relabels every object back.
func (s *weightStep) Revert(ctx context.Context) error {
	if err := s.reverted.do(func() error {
		if err := SetRevert(ctx, s.cfg.Client, s.cfg.Canary.Name, true); err != nil {
			return err
		}
		if s.cfg.OnRevert != nil {
			s.cfg.OnRevert()
		}
		return nil
	}); err != nil {
		return err
	}
	_, err := relabelAll(ctx, s.cfg, 0, true)
	return err
}

// relabelAll relabels every main kind to weight (or back with revert),
// reports the owned counts, summed over the kinds, to cfg.OnOwned, and
// returns how many objects wait for their drain to be acknowledged.
func relabelAll(ctx context.Context, cfg *Config, weight int32, revert bool) (int, error) {
	total, pending := map[string]int{}, 0
	for _, gvk := range cfg.Kinds[:len(cfg.Canary.Spec.Resources)] {
		r, err := relabel(ctx, cfg.Client, cfg.Canary, gvk, cfg.Namespace, weight, revert, 0, cfg.OnMove)
		if err != nil {
			return 0, err
		}
		for rev, n := range r.owned {
			total[rev] += n
		}
		pending += r.pending
	}
	if cfg.OnOwned != nil {
		cfg.OnOwned(total)
	}
	return pending, nil
}

// revertOnce runs the revert switch once per plan run.
type revertOnce struct {
	mu   sync.Mutex
	done bool
}

func (r *revertOnce) do(f func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	if err := f(); err != nil {
		return err
	}
	r.done = true
	return nil
}

type promoteStep struct{ cfg *Config }

func (s *promoteStep) Name() string { return StepPromote }

func (s *promoteStep) Describe() string {
	return fmt.Sprintf("promote revision %s: the stable revision %s owns nothing any more (point of no return)", s.cfg.Canary.Spec.Canary.Revision, s.cfg.Canary.Spec.Stable.Revision)
}

func (s *promoteStep) Apply(ctx context.Context) error {
	if s.cfg.OnPromote != nil {
		return s.cfg.OnPromote(ctx)
	}
	return nil
}

func (s *promoteStep) Check(context.Context) plan.Result { return plan.Done() }

func (s *promoteStep) Revert(context.Context) error { return nil }

// reconcileTimeout is analysis.reconcileTimeout or its default.
func reconcileTimeout(cc *v1alpha1.ControllerCanary) time.Duration {
	if t := cc.Spec.Analysis.ReconcileTimeout; t != nil {
		return t.Duration
	}
	return DefaultReconcileTimeout
}
