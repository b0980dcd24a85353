package canary

import (
	"fmt"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Validate checks what the CRD's schema and CEL rules cannot, or what a
// client that bypassed them (an older CRD, a unit test) could get wrong:
// distinct identities and revisions, weights in [0, 100] and not
// decreasing, a positive budget window, parseable selectors and metrics
// URLs. Errors name the field (spec.steps[2].weight, …). Pure.
func Validate(cc *v1alpha1.ControllerCanary) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	s := &cc.Spec
	errs = append(errs, validateVersion(spec.Child("stable"), s.Stable)...)
	errs = append(errs, validateVersion(spec.Child("canary"), s.Canary)...)
	if s.Stable.Identity != "" && s.Stable.Identity == s.Canary.Identity {
		errs = append(errs, field.Invalid(spec.Child("canary", "identity"), s.Canary.Identity,
			"must differ from spec.stable.identity: enforcement tells the versions apart by identity"))
	}
	if s.Stable.Revision != "" && s.Stable.Revision == s.Canary.Revision {
		errs = append(errs, field.Invalid(spec.Child("canary", "revision"), s.Canary.Revision, "must differ from spec.stable.revision"))
	}
	if len(s.Resources) == 0 {
		errs = append(errs, field.Required(spec.Child("resources"), "name at least one main resource"))
	}
	for i, r := range s.Resources {
		errs = append(errs, validateResource(spec.Child("resources").Index(i), r)...)
		// One admission policy serves every main resource, so they share
		// one namespace and one object selector.
		if i > 0 && (!equality.Semantic.DeepEqual(r.NamespaceSelector, s.Resources[0].NamespaceSelector) ||
			!equality.Semantic.DeepEqual(r.ObjectSelector, s.Resources[0].ObjectSelector)) {
			errs = append(errs, field.Invalid(spec.Child("resources").Index(i), GVR(r).String(),
				"namespaceSelector and objectSelector must equal those of spec.resources[0]"))
		}
	}
	for i, r := range s.ControlledResources {
		errs = append(errs, validateResource(spec.Child("controlledResources").Index(i), r)...)
	}
	if len(s.Steps) == 0 {
		errs = append(errs, field.Required(spec.Child("steps"), "name at least one step"))
	}
	prev := int32(0)
	for i, st := range s.Steps {
		p := spec.Child("steps").Index(i).Child("weight")
		switch {
		case st.Weight < 0 || st.Weight > 100:
			errs = append(errs, field.Invalid(p, st.Weight, "must be between 0 and 100 percent"))
		case st.Weight < prev:
			errs = append(errs, field.Invalid(p, st.Weight, fmt.Sprintf("must not be below the previous step's weight %d", prev)))
		}
		if st.Weight >= 0 && st.Weight <= 100 {
			prev = max(prev, st.Weight)
		}
		if st.Pause != nil && st.Pause.Duration < 0 {
			errs = append(errs, field.Invalid(spec.Child("steps").Index(i).Child("pause"), st.Pause.Duration.String(), "must not be negative"))
		}
	}
	b := BudgetOf(cc)
	if b.MaxDeletes < 0 {
		errs = append(errs, field.Invalid(spec.Child("deletionBudget", "maxDeletes"), b.MaxDeletes, "must not be negative"))
	}
	if b.Window <= 0 {
		errs = append(errs, field.Invalid(spec.Child("deletionBudget", "window"), b.Window.String(), "must be positive"))
	}
	if a := s.Analysis; a.MaxErrorPercent < 0 || a.MaxErrorPercent > 100 {
		errs = append(errs, field.Invalid(spec.Child("analysis", "maxErrorPercent"), a.MaxErrorPercent, "must be between 0 and 100"))
	}
	errs = append(errs, validateShadow(cc)...)
	errs = append(errs, validateSkew(cc)...)
	return errs
}

func validateVersion(p *field.Path, v v1alpha1.ControllerVersion) field.ErrorList {
	var errs field.ErrorList
	if v.Revision == "" {
		errs = append(errs, field.Required(p.Child("revision"), "the revision is the ownership label's value"))
	}
	if v.Identity == "" {
		errs = append(errs, field.Required(p.Child("identity"), "the username the version's requests carry"))
	}
	if v.MetricsEndpoint != "" {
		u, err := url.Parse(v.MetricsEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, field.Invalid(p.Child("metricsEndpoint"), v.MetricsEndpoint, "must be an http(s) URL with a host"))
		}
	}
	return errs
}

func validateResource(p *field.Path, r v1alpha1.CanaryResource) field.ErrorList {
	var errs field.ErrorList
	if r.Version == "" {
		errs = append(errs, field.Required(p.Child("version"), ""))
	}
	if r.Resource == "" {
		errs = append(errs, field.Required(p.Child("resource"), ""))
	}
	for name, sel := range map[string]*metav1.LabelSelector{"namespaceSelector": r.NamespaceSelector, "objectSelector": r.ObjectSelector} {
		if sel == nil {
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			errs = append(errs, field.Invalid(p.Child(name), sel.String(), err.Error()))
		}
	}
	return errs
}

// Defaults of spec.deletionBudget (the CRD's defaults; BudgetOf applies them
// to a spec that bypassed the apiserver).
const (
	DefaultMaxDeletes = 10
	DefaultWindow     = time.Minute
)

// BudgetOf returns cc's deletion budget with the defaults filled in.
func BudgetOf(cc *v1alpha1.ControllerCanary) Budget {
	b := Budget{MaxDeletes: DefaultMaxDeletes, Window: DefaultWindow}
	if m := cc.Spec.DeletionBudget.MaxDeletes; m != nil {
		b.MaxDeletes = int(*m)
	}
	if w := cc.Spec.DeletionBudget.Window; w != nil {
		b.Window = w.Duration
	}
	return b
}

// GVR returns r's GroupVersionResource.
func GVR(r v1alpha1.CanaryResource) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
}

// CheckResources resolves every main and controlled resource with mapper
// (a discovery-backed RESTMapper) and returns a field error wrapping
// ErrUnknownResource for each one the apiserver does not serve, and the kinds
// of the ones it does (index-aligned with Resources then ControlledResources).
func CheckResources(cc *v1alpha1.ControllerCanary, mapper meta.RESTMapper) ([]schema.GroupVersionKind, field.ErrorList) {
	var errs field.ErrorList
	var kinds []schema.GroupVersionKind
	check := func(p *field.Path, rs []v1alpha1.CanaryResource) {
		for i, r := range rs {
			gvk, err := mapper.KindFor(GVR(r))
			if err != nil {
				errs = append(errs, field.NotFound(p.Index(i), fmt.Sprintf("%s: %v", GVR(r).String(), fmt.Errorf("%w: %w", ErrUnknownResource, err))))
				kinds = append(kinds, schema.GroupVersionKind{})
				continue
			}
			kinds = append(kinds, gvk)
		}
	}
	check(field.NewPath("spec", "resources"), cc.Spec.Resources)
	check(field.NewPath("spec", "controlledResources"), cc.Spec.ControlledResources)
	return kinds, errs
}
