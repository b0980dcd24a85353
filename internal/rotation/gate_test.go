package rotation

import (
	"testing"

	"github.com/handover-dev/handover/internal/plan"
)

func TestGate(t *testing.T) {
	t.Parallel()
	ok := func(n string) Verdict { return Verdict{Consumer: n, OK: true} }
	no := func(n string) Verdict { return Verdict{Consumer: n, Reason: "rejected"} }
	tests := []struct {
		name string
		vs   []Verdict
		want plan.Result
	}{
		{"none is a failure", nil, plan.Failed("no consumer to verify: the backend lists none")},
		{"all pass", []Verdict{ok("a"), ok("b")}, plan.Done()},
		{"one lags", []Verdict{ok("a"), no("b"), ok("c")}, plan.NotYet("2/3 consumers accept the new CA; waiting for b; b: rejected")},
		{"all lag", []Verdict{no("a"), no("b")}, plan.NotYet("0/2 consumers accept the new CA; waiting for a, b; a: rejected")},
		{"names at most three", []Verdict{no("a"), no("b"), no("c"), no("d"), no("e"), ok("f")},
			plan.NotYet("1/6 consumers accept the new CA; waiting for a, b, c and 2 more; a: rejected")},
		{"keeps the class of a probe error", []Verdict{{Consumer: "ratelimit", Reason: "dial: dial tcp 10.0.0.1:8081: connect: connection refused"}},
			plan.NotYet("0/1 consumers accept the new CA; waiting for ratelimit; ratelimit: dial: dial tcp 10.0.0.1:8081: connect: connection refused")},
		{"no reason given", []Verdict{{Consumer: "a"}}, plan.NotYet("0/1 consumers accept the new CA; waiting for a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Gate("accept the new CA", tt.vs); got != tt.want {
				t.Fatalf("Gate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseStrategy(t *testing.T) {
	t.Parallel()
	for _, s := range Strategies() {
		got, err := ParseStrategy(string(s))
		if err != nil || got != s {
			t.Errorf("ParseStrategy(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseStrategy("yolo"); err == nil {
		t.Error("ParseStrategy(yolo) accepted")
	}
}
