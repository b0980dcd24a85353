package scenario

import (
	"context"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/canary/canarytest"
)

// TestRunsOnRealAPIServer runs the three demo runs at a small scale on a
// real kube-apiserver and checks their promises: in-place loses (nearly)
// every child, canary-bad loses at most the budget and rolls back by itself
// (the plan engine reverted its step), canary-good promotes with no
// overlapping write and no delete over budget.
func TestRunsOnRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("slow tier: three controller upgrades on a real kube-apiserver")
	}
	cfg, _ := canarytest.StartAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// 120 Routes: 5 % is ~6 of them, more than the budget of 2.
	runs, err := Run(ctx, Options{Admin: cfg, Routes: 120, MaxDeletes: 2, Log: testWriter{t}, Runs: []string{RunInPlace, RunCanaryBad, RunCanaryGood}})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Name != RunInPlace || runs[1].Name != RunCanaryBad || runs[2].Name != RunCanaryGood {
		t.Fatalf("runs = %d, want in-place, canary-bad, canary-good", len(runs))
	}
	if err := Verdict(runs); err != nil {
		t.Fatal(err)
	}
	bad := runs[1]
	for _, k := range []string{"children_deleted", "detect_ms", "revert_effective_ms", "recovered_ms"} {
		if _, ok := bad.Metrics[k]; !ok {
			t.Errorf("canary-bad has no metric %s: %v", k, bad.Metrics)
		}
	}
	if bad.Metrics["children_deleted"] < 1 {
		t.Errorf("canary-bad deleted nothing: the bug never ran, the budget was not tested")
	}
	if _, ok := runs[2].Metrics["handover_ms"]; !ok {
		t.Errorf("canary-good has no handover_ms: %v", runs[2].Metrics)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
