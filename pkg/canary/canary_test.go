package canary

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestSelector(t *testing.T) {
	t.Parallel()
	stable := Revision{Name: "v1", Stable: true, Others: []string{"v2"}}
	canaryRev := Revision{Name: "v2"}
	cases := []struct {
		name   string
		r      Revision
		labels labels.Set
		want   bool
	}{
		{"stable owns unlabelled", stable, nil, true},
		{"stable owns its label", stable, labels.Set{LabelControllerRevision: "v1"}, true},
		{"stable does not own the canary's", stable, labels.Set{LabelControllerRevision: "v2"}, false},
		{"canary does not own unlabelled", canaryRev, nil, false},
		{"canary owns its label", canaryRev, labels.Set{LabelControllerRevision: "v2"}, true},
		{"canary does not own stable's label", canaryRev, labels.Set{LabelControllerRevision: "v1"}, false},
		{"stable alone owns everything", Revision{Name: "v1", Stable: true}, labels.Set{LabelControllerRevision: "v9"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := c.r.Selector().Matches(c.labels); got != c.want {
				t.Fatalf("%v matches %v = %v, want %v", c.r.Selector(), c.labels, got, c.want)
			}
		})
	}
}

func TestCacheOptionsKeepsOtherEntries(t *testing.T) {
	t.Parallel()
	secret := &corev1.Secret{}
	cm := &corev1.ConfigMap{}
	base := cache.Options{ByObject: map[client.Object]cache.ByObject{secret: {Label: labels.Everything()}}}
	out := CacheOptions(base, Revision{Name: "v2"}, cm)
	if len(out.ByObject) != 2 {
		t.Fatalf("ByObject has %d entries, want 2", len(out.ByObject))
	}
	if got := out.ByObject[cm].Label.String(); got != LabelControllerRevision+"=v2" {
		t.Fatalf("main object selector = %q", got)
	}
	if len(base.ByObject) != 1 {
		t.Fatal("CacheOptions modified its input")
	}
	if got := LeaderElectionID("routes", Revision{Name: "v2"}); got != "routes-v2" {
		t.Fatalf("LeaderElectionID = %q", got)
	}
}
