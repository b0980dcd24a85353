package testenv_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/handover-dev/handover/internal/testenv"
)

// The Deployment's selector and the budget's selector both select the pods
// the Deployment creates, and those pods go to kwok nodes.
func TestKwokDeploymentAndBudgetSelectTheSamePods(t *testing.T) {
	t.Parallel()
	d := testenv.KwokDeployment("ns", "web", 3)
	b := testenv.MinAvailableBudget("ns", "web", 2)
	pods := labels.Set(d.Spec.Template.Labels)
	for what, sel := range map[string]*metav1.LabelSelector{"deployment": d.Spec.Selector, "budget": b.Spec.Selector} {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatalf("%s selector: %v", what, err)
		}
		if !s.Matches(pods) {
			t.Errorf("%s selector %s does not match the pod labels %v", what, s, pods)
		}
	}
	if got := d.Spec.Template.Spec.NodeSelector["type"]; got != "kwok" {
		t.Errorf("node selector type=%q, want kwok", got)
	}
	if *d.Spec.Replicas != 3 || b.Spec.MinAvailable.IntValue() != 2 || d.Namespace != "ns" || b.Namespace != "ns" {
		t.Errorf("replicas %d, minAvailable %v, namespaces %q/%q; want 3, 2, ns/ns", *d.Spec.Replicas, b.Spec.MinAvailable, d.Namespace, b.Namespace)
	}
	// The builder returns fresh maps: changing one pod template's labels
	// must not change its selector.
	d.Spec.Template.Labels["extra"] = "x"
	if _, ok := d.Spec.Selector.MatchLabels["extra"]; ok {
		t.Error("template labels and selector share one map")
	}
}
