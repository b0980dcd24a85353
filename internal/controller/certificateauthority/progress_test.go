package certificateauthority_test

import (
	"reflect"
	"testing"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
)

func TestResumeProgress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		gen    int64
		status []v1alpha1.ConsumerStatus
		want   map[string]int64
	}{
		{"fresh rotation: every consumer on the current generation", 4, []v1alpha1.ConsumerStatus{{Name: "gw", BundleGeneration: 4}, {Name: "db", BundleGeneration: 4}},
			map[string]int64{"gw": 4, "db": 4}},
		{"resumed in a held gate: the recorded generations stay", 5, []v1alpha1.ConsumerStatus{{Name: "gw", BundleGeneration: 4}, {Name: "db", BundleGeneration: 5}},
			map[string]int64{"gw": 4, "db": 5}},
		{"never recorded: the current generation", 5, nil, map[string]int64{"gw": 5, "db": 5}},
		{"a recorded generation above the current one is capped", 5, []v1alpha1.ConsumerStatus{{Name: "gw", BundleGeneration: 9}},
			map[string]int64{"gw": 5, "db": 5}},
		{"a consumer no longer declared is ignored", 5, []v1alpha1.ConsumerStatus{{Name: "old", BundleGeneration: 1}},
			map[string]int64{"gw": 5, "db": 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gen, got := certificateauthority.ResumeProgress(tc.gen, []string{"gw", "db"}, tc.status).Snapshot()
			if gen != tc.gen || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ResumeProgress = %d %v, want %d %v", gen, got, tc.gen, tc.want)
			}
		})
	}
}
