package canary

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary/preflight"
	"github.com/handover-dev/handover/internal/plan"
)

// Step names of the version-skew preflight in a canary plan.
const (
	StepPreflight        = "preflight"
	StepPreflightPromote = "preflight-promote"
)

// WantsPreflight reports whether cc declares what the version-skew
// preflight checks (spec.stable.apiVersions or a leader-election lock);
// NewPlan then adds a preflight step first and one before the promotion.
func WantsPreflight(cc *v1alpha1.ControllerCanary) bool {
	s := &cc.Spec
	return len(s.Stable.APIVersions) > 0 || s.Stable.LeaderElectionLock != "" || s.Canary.LeaderElectionLock != ""
}

// preflightStep gates on the version-skew preflight of the cluster as it is
// (preflight.Run with no proposed CRDs): before the canary starts, and
// again before the promotion (someone may have applied the canary's CRDs
// meanwhile). It changes nothing.
type preflightStep struct {
	cfg  *Config
	name string
}

func (s *preflightStep) Name() string { return s.name }

func (s *preflightStep) Describe() string {
	return fmt.Sprintf("version-skew preflight: the versions revision %s reads (%s) and every stored version stay served, schemas compatible, leader-election locks differ",
		s.cfg.Canary.Spec.Stable.Revision, strings.Join(s.cfg.Canary.Spec.Stable.APIVersions, ", "))
}

func (s *preflightStep) Apply(context.Context) error { return nil }

func (s *preflightStep) Check(ctx context.Context) plan.Result {
	cur, err := currentCanary(ctx, s.cfg)
	if err != nil {
		return plan.NotYet(fmt.Sprintf("read controllercanary %s: %v", s.cfg.Canary.Name, err))
	}
	fs, err := preflight.Run(ctx, s.cfg.Client, cur, nil)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	if r := preflight.Refused(fs); len(r) > 0 {
		msgs := make([]string, len(r))
		for i, f := range r {
			msgs[i] = f.String()
		}
		return plan.Failed("version-skew preflight refused: " + strings.Join(msgs, "; "))
	}
	return plan.Done()
}

func (s *preflightStep) Revert(context.Context) error { return nil }

// currentCanary reads the ControllerCanary as it is now (Config.Current,
// else Config.Client).
func currentCanary(ctx context.Context, cfg *Config) (*v1alpha1.ControllerCanary, error) {
	if cfg.Current != nil {
		return cfg.Current(ctx)
	}
	var cc v1alpha1.ControllerCanary
	return &cc, cfg.Client.Get(ctx, client.ObjectKey{Name: cfg.Canary.Name}, &cc)
}

// validateSkew checks the fields the preflight reads: apiVersions are
// group/version, locks are namespace/name and differ. Pure.
func validateSkew(cc *v1alpha1.ControllerCanary) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	for i, gv := range cc.Spec.Stable.APIVersions {
		if _, err := schema.ParseGroupVersion(gv); err != nil || gv == "" {
			errs = append(errs, field.Invalid(spec.Child("stable", "apiVersions").Index(i), gv, "must be group/version (v1 for the core group)"))
		}
	}
	for _, v := range []struct {
		p    *field.Path
		lock string
	}{{spec.Child("stable", "leaderElectionLock"), cc.Spec.Stable.LeaderElectionLock}, {spec.Child("canary", "leaderElectionLock"), cc.Spec.Canary.LeaderElectionLock}} {
		if ns, name, ok := strings.Cut(v.lock, "/"); v.lock != "" && (!ok || ns == "" || name == "" || strings.Contains(name, "/")) {
			errs = append(errs, field.Invalid(v.p, v.lock, "must be namespace/name of a Lease"))
		}
	}
	if l := cc.Spec.Canary.LeaderElectionLock; l != "" && l == cc.Spec.Stable.LeaderElectionLock {
		errs = append(errs, field.Invalid(spec.Child("canary", "leaderElectionLock"), l,
			"must differ from spec.stable.leaderElectionLock: with one lock the canary waits for, or takes, the stable revision's leadership"))
	}
	return errs
}
