package scenario

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/report"
)

// canaryCase is what differs between canary-bad and canary-good.
type canaryCase struct {
	name    string // run name = namespace = ControllerCanary name
	version string // the canary's sample version
	steps   []v1alpha1.CanaryStep
	// shadow and analysis, when set, add the shadow step and its gates.
	shadow   *v1alpha1.CanaryShadow
	analysis v1alpha1.CanaryAnalysis
}

// canaryResult is what a canary run measured besides the probe summary.
type canaryResult struct {
	state         *plan.State
	planStart     time.Time
	planEnd       time.Time
	tripAt        time.Time // webhook: first over-budget delete (breaker opened)
	failedAt      time.Time // plan: the step's gate failed (rollback begins)
	failedStep    int       // index in steps of the step that failed (-1: none)
	revertAt      time.Time // the switch was written
	effectiveAt   time.Time // first denied canary write after the switch
	deleted       int       // children deleted by the canary
	budgetDenials int
	tr            *tracker
	probe         *ChildProbe
	shadow        *shadowResult // nil without a shadow step
}

// newCanary returns the ControllerCanary of c in namespace c.name.
func (e *env) newCanary(c canaryCase) *v1alpha1.ControllerCanary {
	return &v1alpha1.ControllerCanary{
		ObjectMeta: metav1.ObjectMeta{Name: c.name},
		Spec: v1alpha1.ControllerCanarySpec{
			Stable: v1alpha1.ControllerVersion{Revision: sample.V1, Identity: User(sample.V1)},
			Canary: v1alpha1.ControllerVersion{Revision: c.version, Identity: User(c.version)},
			Resources: []v1alpha1.CanaryResource{{Group: sample.GroupVersion.Group, Version: sample.GroupVersion.Version, Resource: "routes",
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: c.name}}}},
			ControlledResources: []v1alpha1.CanaryResource{{Version: "v1", Resource: "configmaps"}},
			Steps:               c.steps,
			Shadow:              c.shadow,
			Analysis:            c.analysis,
			DeletionBudget:      v1alpha1.DeletionBudget{MaxDeletes: ptr.To(e.o.MaxDeletes), Window: &metav1.Duration{Duration: time.Minute}},
		},
	}
}

// runCanary prepares the namespace, creates the ControllerCanary, serves its
// webhook and runs its plan with the probe recording; the canary version
// starts once enforcement is active. It stops both versions and removes
// enforcement before it returns.
func (e *env) runCanary(ctx context.Context, c canaryCase) (*canaryResult, report.Run, error) {
	v1, err := e.prepare(ctx, c.name)
	if err != nil {
		return nil, report.Run{}, err
	}
	var ctrls sync.Map // version -> *Controller
	ctrls.Store(sample.V1, v1)
	stop := func(v string) {
		if x, ok := ctrls.LoadAndDelete(v); ok {
			_ = x.(*Controller).Stop()
		}
	}
	defer stop(sample.V1)
	defer stop(c.version)

	cc := e.newCanary(c)
	if errs := canary.Validate(cc); len(errs) > 0 {
		return nil, report.Run{}, fmt.Errorf("controllercanary %s: %w", cc.Name, errs.ToAggregate())
	}
	if err := e.admin.Create(ctx, cc); err != nil {
		return nil, report.Run{}, fmt.Errorf("create controllercanary %s: %w", cc.Name, err)
	}
	kinds, errs := canary.CheckResources(cc, e.admin.RESTMapper())
	if len(errs) > 0 {
		return nil, report.Run{}, fmt.Errorf("controllercanary %s: %w", cc.Name, errs.ToAggregate())
	}
	defer func() { _ = canary.Uninstall(context.WithoutCancel(ctx), e.admin, cc.Name) }()

	res := &canaryResult{tr: newTracker(), failedStep: -1}
	var shadowLog *canary.ShadowLog
	canaryCfg := e.o.Admin
	if c.shadow != nil {
		shadowLog = canary.NewShadowLog(cc, nil)
		res.shadow = &shadowResult{log: shadowLog}
		canaryCfg = res.shadow.count(e.o.Admin)
	}
	var mu sync.Mutex
	ledger := canary.NewLedger(canary.BudgetOf(cc), nil, func(string, canary.Trip) {})
	e.srv.Handle(canary.WebhookPath(cc.Name), &canary.Webhook{
		Canary: func(ctx context.Context) (*v1alpha1.ControllerCanary, error) {
			var got v1alpha1.ControllerCanary
			return &got, e.admin.Get(ctx, client.ObjectKey{Name: cc.Name}, &got)
		},
		Reader:   e.admin,
		Ledger:   ledger,
		Kinds:    map[schema.GroupKind]schema.GroupVersionKind{kinds[0].GroupKind(): kinds[0]},
		Children: kinds[len(cc.Spec.Resources):],
		Shadow:   shadowLog,
		OnDecision: func(v canary.Verdict) {
			if !v.Budget {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			res.budgetDenials++
			if res.tripAt.IsZero() {
				res.tripAt = time.Now()
			}
		},
	})
	canaryClient, err := client.New(sample.Impersonate(e.o.Admin, User(c.version)), client.Options{Scheme: e.scheme})
	if err != nil {
		return nil, report.Run{}, err
	}

	rec := probe.NewRecorder(nil)
	res.probe = &ChildProbe{Client: e.admin, Namespace: c.name, Interval: e.o.SweepInterval, Sink: rec}
	pctx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); res.probe.Run(pctx) }()
	defer func() { stopProbe(); <-probeDone }()
	rec.Mark("v1")
	time.Sleep(time.Second)

	var startErr error
	p, err := canary.NewPlan(canary.Config{
		Client: e.admin, CanaryClient: canaryClient, Canary: cc, Kinds: kinds, Namespace: c.name,
		WebhookURL: e.srv.URL(), CABundle: e.srv.CABundle(), Ledger: ledger,
		Reconciled: throttle(time.Second, func(ctx context.Context) plan.Result { return e.reconciled(ctx, c) }),
		OnMove:     res.tr.move(c.version),
		OnRevert: func() {
			mu.Lock()
			res.revertAt = time.Now()
			mu.Unlock()
			e.measureRevert(ctx, canaryClient, c, res, &mu)
		},
		OnPromote: func(context.Context) error { stop(sample.V1); return nil },
		Shadow:    shadowLog, ShadowNamespace: c.name,
	})
	if err != nil {
		return nil, report.Run{}, err
	}
	runner := &plan.Runner{RollbackOnCancel: true, Observers: []plan.Observer{rec, plan.ObserverFunc(func(ev plan.Event) {
		switch {
		case ev.Kind == plan.EventStepDone && ev.Step == canary.StepEnforce:
			logf(e.o.Log, "%s: enforcement active; starting %s as the canary", c.name, c.version)
			x, err := StartController(ctx, canaryCfg, e.scheme, c.version, c.name, e.o.CleanupInterval, res.tr.write)
			if err != nil {
				startErr = err
				return
			}
			ctrls.Store(c.version, x)
		case ev.Step == canary.StepShadow && res.shadow != nil:
			res.shadow.observe(ev)
			if ev.Kind == plan.EventStepStarted {
				go res.shadow.endWhenSeen(pctx, e.admin, cc.Name, e.o.Routes, e.o.Log)
			}
			if ev.Kind == plan.EventStepFailed {
				logf(e.o.Log, "%s: step %s failed: %s", c.name, ev.Step, ev.Reason)
			}
		case ev.Kind == plan.EventStepStarted:
			logf(e.o.Log, "%s: step %s", c.name, ev.Step)
		case ev.Kind == plan.EventStepFailed:
			mu.Lock()
			res.failedAt = ev.Time
			res.failedStep = ev.Index - 1 // index 0 is the enforce step
			if res.shadow != nil {
				res.failedStep-- // index 1 is the shadow step
			}
			mu.Unlock()
			logf(e.o.Log, "%s: step %s failed: %s", c.name, ev.Step, ev.Reason)
		case ev.Kind == plan.EventPlanEnded:
			logf(e.o.Log, "%s: plan %s %s", c.name, ev.Outcome, ev.Reason)
		}
	})}}
	res.planStart = time.Now()
	st, err := runner.Run(ctx, p)
	res.planEnd = time.Now()
	res.state = st
	if err != nil {
		return nil, report.Run{}, err
	}
	if startErr != nil {
		return nil, report.Run{}, startErr
	}
	// The canary is stopped after the plan ended (rolled back or promoted);
	// the run ends when every child is correct again.
	if st.Outcome != plan.OutcomeSucceeded {
		stop(c.version)
	}
	if err := WaitAllCorrect(ctx, e.admin, c.name, 2*time.Minute); err != nil {
		logf(e.o.Log, "%s: children not all correct 2 min after the plan: %v", c.name, err)
	}
	// The probe must have seen it too (recovered_ms comes from its sweeps).
	res.probe.WaitSweeps(ctx, time.Now(), 2, 30*time.Second)
	res.deleted, _ = res.tr.deletes(c.version)
	stopProbe()
	<-probeDone
	run := report.NewRun(c.name, Kind, rec.Summary())
	run.Outcome = string(st.Outcome)
	return res, run, nil
}

// reconciled is the demo's reconcile gate: every Route the canary owns has
// a child the canary rendered (v3 writes format=v3; v2 renders like v1, so
// for v2 it only needs the child to be present and correct).
func (e *env) reconciled(ctx context.Context, c canaryCase) plan.Result {
	var routes sample.RouteList
	if err := e.admin.List(ctx, &routes, client.InNamespace(c.name), client.MatchingLabels{v1alpha1.LabelControllerRevision: c.version}); err != nil {
		return plan.NotYet(fmt.Sprintf("list routes: %v", err))
	}
	var cms corev1.ConfigMapList
	if err := e.admin.List(ctx, &cms, client.InNamespace(c.name), client.HasLabels{sample.LabelRoute}); err != nil {
		return plan.NotYet(fmt.Sprintf("list configmaps: %v", err))
	}
	byName := make(map[string]*corev1.ConfigMap, len(cms.Items))
	for i := range cms.Items {
		byName[cms.Items[i].Name] = &cms.Items[i]
	}
	done := 0
	for i := range routes.Items {
		r := &routes.Items[i]
		cm, ok := byName[sample.ChildName(r.Name)]
		if ok && sample.Correct(cm, r) && (c.version != sample.V3 || cm.Data["format"] == sample.V3) {
			done++
		}
	}
	if done < len(routes.Items) {
		return plan.NotYet(fmt.Sprintf("%d/%d routes of %s reconciled", done, len(routes.Items), c.version))
	}
	return plan.Done()
}

// throttle returns a gate that evaluates f at most once per every (the
// breaker is polled every 100 ms, but the reconcile gate LISTs every Route
// and child, which is load on the apiserver the demo measures) and repeats
// a NotYet in between; a Done is final.
func throttle(every time.Duration, f func(context.Context) plan.Result) func(context.Context, int32) plan.Result {
	var (
		mu   sync.Mutex
		last time.Time
		res  plan.Result
	)
	return func(ctx context.Context, _ int32) plan.Result {
		mu.Lock()
		defer mu.Unlock()
		if !last.IsZero() && time.Since(last) < every && res.State == plan.CheckNotYet {
			return res
		}
		last, res = time.Now(), f(ctx)
		return res
	}
}

// measureRevert probes, as the canary, a dry-run no-op patch of a Route the
// canary owned, every 5 ms for up to 10 s after the switch, and records the
// first denial in res.effectiveAt.
func (e *env) measureRevert(ctx context.Context, canaryClient client.Client, c canaryCase, res *canaryResult, mu *sync.Mutex) {
	var routes sample.RouteList
	if err := e.admin.List(ctx, &routes, client.InNamespace(c.name), client.MatchingLabels{v1alpha1.LabelControllerRevision: c.version}, client.Limit(1)); err != nil || len(routes.Items) == 0 {
		return
	}
	r := &routes.Items[0]
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		err := canaryClient.Patch(ctx, r, client.RawPatch("application/merge-patch+json", []byte(`{}`)), client.DryRunAll)
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			mu.Lock()
			res.effectiveAt = time.Now()
			mu.Unlock()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// canaryBad: v2 as a canary, first step 5 %, budget MaxDeletes.
func (e *env) canaryBad(ctx context.Context) (report.Run, error) {
	// Each step holds its gates for a while, as a canary's analysis window
	// would: the first 30 s, the others 10 s.
	steps := []v1alpha1.CanaryStep{
		{Weight: 5, Pause: &metav1.Duration{Duration: 30 * time.Second}},
		{Weight: 25, Pause: &metav1.Duration{Duration: 10 * time.Second}},
		{Weight: 50, Pause: &metav1.Duration{Duration: 10 * time.Second}},
		{Weight: 100, Pause: &metav1.Duration{Duration: 10 * time.Second}},
	}
	res, run, err := e.runCanary(ctx, canaryCase{name: RunCanaryBad, version: sample.V2, steps: steps})
	if err != nil {
		return run, err
	}
	run.Metrics = map[string]float64{
		"children_deleted": float64(res.deleted),
		"children_total":   float64(e.o.Routes),
		"max_deletes":      float64(e.o.MaxDeletes),
	}
	run.Checks = map[string]int64{"budget_denials": int64(res.budgetDenials)}
	if !res.tripAt.IsZero() && !res.failedAt.IsZero() {
		run.Metrics["detect_ms"] = msSince(res.tripAt, res.failedAt)
	}
	if res.failedStep >= 0 && res.failedStep < len(steps) {
		run.Metrics["failed_at_weight"] = float64(steps[res.failedStep].Weight)
	}
	if !res.revertAt.IsZero() && !res.effectiveAt.IsZero() {
		run.Metrics["revert_effective_ms"] = msSince(res.revertAt, res.effectiveAt)
	}
	if !res.revertAt.IsZero() {
		if at, ok := res.probe.FirstAllCorrectAfter(res.revertAt); ok {
			run.Metrics["recovered_ms"] = msSince(res.revertAt, at)
		}
	}
	logf(e.o.Log, "%s: v2 deleted %d children (budget %d), outcome %s", RunCanaryBad, res.deleted, e.o.MaxDeletes, run.Outcome)
	return run, nil
}

// canaryGood: v3 promoted through 5/25/50/100 %.
func (e *env) canaryGood(ctx context.Context) (report.Run, error) {
	var steps []v1alpha1.CanaryStep
	for _, w := range []int32{5, 25, 50, 100} {
		steps = append(steps, v1alpha1.CanaryStep{Weight: w, Pause: &metav1.Duration{Duration: time.Second}})
	}
	res, run, err := e.runCanary(ctx, canaryCase{name: RunCanaryGood, version: sample.V3, steps: steps})
	if err != nil {
		return run, err
	}
	run.Metrics = map[string]float64{
		"children_deleted": float64(res.deleted),
		"children_total":   float64(e.o.Routes),
		"handover_ms":      msSince(res.planStart, res.planEnd),
	}
	overlaps, examples := res.tr.overlapping(sample.V1, sample.V3)
	for _, ex := range examples {
		logf(e.o.Log, "%s: overlapping write: %s", RunCanaryGood, ex)
	}
	run.Checks = map[string]int64{
		"overlapping_writes":  int64(overlaps),
		"deletes_over_budget": int64(res.budgetDenials),
	}
	logf(e.o.Log, "%s: outcome %s in %.0f ms, overlapping writes %d", RunCanaryGood, run.Outcome, run.Metrics["handover_ms"], run.Checks["overlapping_writes"])
	return run, nil
}
