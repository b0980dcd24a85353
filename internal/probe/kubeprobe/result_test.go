package kubeprobe

import "testing"

func TestVerify(t *testing.T) {
	t.Parallel()
	acks := []Ack{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	all := map[string]bool{"a": true, "b": true, "c": true}
	for _, tc := range []struct {
		name                     string
		present, watched         map[string]bool
		relists, regress         int
		wantMissing, wantWatched int
	}{
		{"all there", all, all, 0, 0, 0, 0},
		{"one lost", map[string]bool{"a": true, "c": true}, all, 0, 0, 1, 0},
		{"watch missed one", all, map[string]bool{"a": true, "b": true}, 0, 0, 0, 1},
		{"relist and regression are gaps", all, all, 2, 1, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Verify(acks, tc.present, tc.watched, 4, tc.relists, tc.regress)
			if r.Acknowledged != 3 || r.MissingAcknowledged != tc.wantMissing || r.WatchGaps != tc.wantWatched || r.WatchResumes != 4 {
				t.Fatalf("Verify = %+v, want missing %d gaps %d", r, tc.wantMissing, tc.wantWatched)
			}
			if c := r.Checks(); c["missing_acknowledged_writes"] != int64(tc.wantMissing) || c["watch_gaps"] != int64(tc.wantWatched) {
				t.Fatalf("Checks = %v", c)
			}
		})
	}
}
