package canary

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// ShadowGate is the rule that ends a shadow step: given the record's
// distinct deletes and changed objects (ShadowRecord.Totals), the number of
// objects in scope when the shadow began, and analysis.maxShadowDeletes /
// maxShadowUpdatesPercent (nil = not gated), it returns ("", true) when the
// canary may go on to own objects, else the reason naming the field.
// Updates are a percentage of inScope; with inScope 0 any update is 100 %.
// Pure.
func ShadowGate(a v1alpha1.CanaryAnalysis, deletes, updates int64, inScope int64) (string, bool) {
	if m := a.MaxShadowDeletes; m != nil && deletes > int64(*m) {
		return fmt.Sprintf("shadow: the canary tried to delete %d object(s), analysis.maxShadowDeletes is %d", deletes, *m), false
	}
	if m := a.MaxShadowUpdatesPercent; m != nil && updates > 0 {
		pct := 100.0
		if inScope > 0 {
			pct = 100 * float64(updates) / float64(inScope)
		}
		if pct > float64(*m) {
			return fmt.Sprintf("shadow: the canary tried to change %d of %d object(s) (%.1f %%), analysis.maxShadowUpdatesPercent is %d", updates, inScope, pct, *m), false
		}
	}
	return "", true
}

// ShadowActive reports whether cc's shadow step is running: spec.shadow is
// set and handover set AnnotationShadow to "true". The admission policy
// evaluates the same condition on its param.
func ShadowActive(cc *v1alpha1.ControllerCanary) bool {
	return cc.Spec.Shadow != nil && cc.Annotations[v1alpha1.AnnotationShadow] == "true"
}

// validateShadow checks spec.shadow and the shadow gates; errors name the
// field. Pure.
func validateShadow(cc *v1alpha1.ControllerCanary) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if s := cc.Spec.Shadow; s != nil {
		if s.Duration != nil && s.Duration.Duration <= 0 {
			errs = append(errs, field.Invalid(spec.Child("shadow", "duration"), s.Duration.Duration.String(), "must be positive"))
		}
		if s.MaxObjects < 0 {
			errs = append(errs, field.Invalid(spec.Child("shadow", "maxObjects"), s.MaxObjects, "must not be negative"))
		}
	}
	a := cc.Spec.Analysis
	if m := a.MaxShadowDeletes; m != nil && *m < 0 {
		errs = append(errs, field.Invalid(spec.Child("analysis", "maxShadowDeletes"), *m, "must not be negative"))
	}
	if m := a.MaxShadowUpdatesPercent; m != nil && (*m < 0 || *m > 100) {
		errs = append(errs, field.Invalid(spec.Child("analysis", "maxShadowUpdatesPercent"), *m, "must be between 0 and 100"))
	}
	if cc.Spec.Shadow == nil && (a.MaxShadowDeletes != nil || a.MaxShadowUpdatesPercent != nil) {
		errs = append(errs, field.Required(spec.Child("shadow"), "analysis.maxShadowDeletes and maxShadowUpdatesPercent judge a shadow step: set spec.shadow"))
	}
	return errs
}
