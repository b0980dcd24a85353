package v1alpha1_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func TestDurationDecodesLeniently(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		invalid string
		wantErr bool
	}{
		{`"90s"`, 90 * time.Second, "", false},
		{`"8760h"`, 8760 * time.Hour, "", false},
		{`""`, 0, "", false},
		{`"abc"`, 0, "abc", false},
		{`"1 hour"`, 0, "1 hour", false},
		{`5`, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var d v1alpha1.Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if d.Duration != tt.want || d.Invalid() != tt.invalid || (d.Err() != nil) != (tt.invalid != "") {
				t.Fatalf("Unmarshal(%s) = %v invalid %q err %v", tt.in, d.Duration, d.Invalid(), d.Err())
			}
			out, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if tt.invalid != "" && string(out) != tt.in {
				t.Errorf("Marshal of invalid %s = %s, want the stored text back", tt.in, out)
			}
		})
	}
}
