package canary

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// validCanary is a spec at the API's defaults (steps 5/25/50/100, budget 10
// per 1m, error ratio 5 %) as the apiserver fills them in.
func validCanary() *v1alpha1.ControllerCanary {
	return &v1alpha1.ControllerCanary{
		ObjectMeta: metav1.ObjectMeta{Name: "routes"},
		Spec: v1alpha1.ControllerCanarySpec{
			Stable:    v1alpha1.ControllerVersion{Revision: "v1", Identity: "system:serviceaccount:sample:v1"},
			Canary:    v1alpha1.ControllerVersion{Revision: "v2", Identity: "system:serviceaccount:sample:v2"},
			Resources: []v1alpha1.CanaryResource{{Group: "sample.handover.dev", Version: "v1", Resource: "routes"}},
			Steps:     []v1alpha1.CanaryStep{{Weight: 5}, {Weight: 25}, {Weight: 50}, {Weight: 100}},
			Analysis:  v1alpha1.CanaryAnalysis{MaxErrorPercent: 5},
			DeletionBudget: v1alpha1.DeletionBudget{
				MaxDeletes: ptr.To[int32](10), Window: &metav1.Duration{Duration: time.Minute},
			},
		},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*v1alpha1.ControllerCanary)
		want   []string // substrings, one per expected error, in order
	}{
		{"defaults are valid", func(*v1alpha1.ControllerCanary) {}, nil},
		{"same identity", func(c *v1alpha1.ControllerCanary) { c.Spec.Canary.Identity = c.Spec.Stable.Identity },
			[]string{"spec.canary.identity: Invalid value: \"system:serviceaccount:sample:v1\": must differ from spec.stable.identity"}},
		{"same revision", func(c *v1alpha1.ControllerCanary) { c.Spec.Canary.Revision = "v1" },
			[]string{"spec.canary.revision: Invalid value: \"v1\": must differ"}},
		{"weight over 100", func(c *v1alpha1.ControllerCanary) { c.Spec.Steps[3].Weight = 101 },
			[]string{"spec.steps[3].weight: Invalid value: 101: must be between 0 and 100 percent"}},
		{"negative weight", func(c *v1alpha1.ControllerCanary) { c.Spec.Steps[0].Weight = -5 },
			[]string{"spec.steps[0].weight: Invalid value: -5"}},
		{"decreasing weight", func(c *v1alpha1.ControllerCanary) { c.Spec.Steps[2].Weight = 10 },
			[]string{"spec.steps[2].weight: Invalid value: 10: must not be below the previous step's weight 25"}},
		{"no steps", func(c *v1alpha1.ControllerCanary) { c.Spec.Steps = nil }, []string{"spec.steps: Required value"}},
		{"no resources", func(c *v1alpha1.ControllerCanary) { c.Spec.Resources = nil }, []string{"spec.resources: Required value"}},
		{"zero window", func(c *v1alpha1.ControllerCanary) { c.Spec.DeletionBudget.Window = &metav1.Duration{} },
			[]string{"spec.deletionBudget.window: Invalid value: \"0s\": must be positive"}},
		{"bad metrics URL", func(c *v1alpha1.ControllerCanary) { c.Spec.Canary.MetricsEndpoint = "localhost:8080" },
			[]string{"spec.canary.metricsEndpoint: Invalid value"}},
		{"bad selector", func(c *v1alpha1.ControllerCanary) {
			c.Spec.Resources[0].ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}
		}, []string{"spec.resources[0].objectSelector: Invalid value"}},
		{"missing identity", func(c *v1alpha1.ControllerCanary) { c.Spec.Stable.Identity = "" }, []string{"spec.stable.identity: Required value"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cc := validCanary()
			c.mutate(cc)
			errs := Validate(cc)
			if len(errs) != len(c.want) {
				t.Fatalf("Validate = %v, want %d errors %q", errs, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}
