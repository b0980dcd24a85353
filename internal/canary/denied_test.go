package canary

import (
	"context"
	"testing"
)

// TestDeniedWritesCount: webhook denials of the canary count, the stable
// version's, allowed requests and budget refusals do not; the apiserver
// counter counts from the first Count, and a counter reset (an apiserver
// restart) keeps what was counted before.
func TestDeniedWritesCount(t *testing.T) {
	t.Parallel()
	scraped := []float64{7, 9, 2, 3}
	i := 0
	d := &DeniedWrites{Revision: "v2", Scrape: func(context.Context) (float64, error) {
		v := scraped[i]
		i++
		return v, nil
	}}
	d.Observe(Verdict{Revision: "v2"})                // denied: counts
	d.Observe(Verdict{Revision: "v2", Allowed: true}) // allowed
	d.Observe(Verdict{Revision: "v2", Budget: true})  // the breaker's
	d.Observe(Verdict{Revision: "v1"})                // stable's
	for _, want := range []int64{1, 3, 5, 6} {        // baseline 7; +2; reset to 2 (+2); +1
		got, err := d.Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("Count after scrape %d = %d, want %d", i, got, want)
		}
	}
}
