package certificateauthority_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/handover-dev/handover/internal/controller/certificateauthority"
)

func TestAccessPolicyReusable(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := certificateauthority.AccessPolicy{AllowedTTL: 10 * time.Minute, DeniedTTL: 30 * time.Second}
	type D = certificateauthority.AccessDecision
	for _, tc := range []struct {
		name   string
		policy certificateauthority.AccessPolicy
		d      D
		epoch  uint64
		now    time.Time
		want   bool
	}{
		{"allowed, fresh", p, D{Allowed: true, At: t0}, 0, t0.Add(time.Minute), true},
		{"allowed, at the same instant", p, D{Allowed: true, At: t0}, 0, t0, true},
		{"allowed, just before its TTL", p, D{Allowed: true, At: t0}, 0, t0.Add(10*time.Minute - time.Nanosecond), true},
		{"allowed, at its TTL", p, D{Allowed: true, At: t0}, 0, t0.Add(10 * time.Minute), false},
		{"denied, within the denied TTL", p, D{At: t0}, 0, t0.Add(29 * time.Second), true},
		{"denied, after the denied TTL but within the allowed one", p, D{At: t0}, 0, t0.Add(time.Minute), false},
		{"allowed, RBAC changed since (epoch moved)", p, D{Allowed: true, At: t0, Epoch: 3}, 4, t0.Add(time.Second), false},
		{"denied, RBAC changed since", p, D{At: t0, Epoch: 3}, 4, t0.Add(time.Second), false},
		{"allowed, clock stepped back", p, D{Allowed: true, At: t0}, 0, t0.Add(-time.Second), false},
		{"default policy: allowed reused", certificateauthority.DefaultAccessPolicy, D{Allowed: true, At: t0}, 0, t0.Add(9 * time.Minute), true},
		{"default policy: a denial is never reused", certificateauthority.DefaultAccessPolicy, D{At: t0}, 0, t0, false},
		{"zero policy caches nothing", certificateauthority.AccessPolicy{}, D{Allowed: true, At: t0}, 0, t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.policy.Reusable(tc.d, tc.epoch, tc.now); got != tc.want {
				t.Errorf("Reusable(%+v, epoch %d, now %s) = %v, want %v", tc.d, tc.epoch, tc.now.Sub(t0), got, tc.want)
			}
		})
	}
}

// TestAccessCacheAsksOnlyWhenStale drives the cache with a fake clock and a
// fake reviewer (a pure unit; the reviews against a real apiserver are in
// the reconciler's tests).
func TestAccessCacheAsksOnlyWhenStale(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	allowed := map[certificateauthority.AccessKey]bool{}
	asked := 0
	fail := false
	c := certificateauthority.NewAccessCache(certificateauthority.DefaultAccessPolicy, clk,
		func(_ context.Context, k certificateauthority.AccessKey) (bool, error) {
			asked++
			if fail {
				return false, errors.New("apiserver unavailable")
			}
			return allowed[k], nil
		})
	ctx := context.Background()
	k := certificateauthority.AccessKey{Namespace: "team-a", Resource: "secrets", Verb: "update"}
	ask := func(wantAllowed bool, wantAsked int) {
		t.Helper()
		got, err := c.Allowed(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if got != wantAllowed || asked != wantAsked {
			t.Fatalf("Allowed = %v after %d reviews, want %v after %d", got, asked, wantAllowed, wantAsked)
		}
	}
	ask(false, 1) // denied: asked
	ask(false, 2) // a denial is not reused by default: asked again
	allowed[k] = true
	ask(true, 3) // the Role appeared: noticed on the next reconcile
	ask(true, 3) // reused
	clk.Step(5 * time.Minute)
	ask(true, 3) // still fresh
	allowed[k] = false
	c.Invalidate() // the RoleBinding was deleted: the watch invalidates
	ask(false, 4)
	allowed[k] = true
	ask(true, 5)
	clk.Step(10 * time.Minute)
	ask(true, 6) // TTL over: asked again
	other := certificateauthority.AccessKey{Namespace: "team-b", Resource: "secrets", Verb: "update"}
	if got, _ := c.Allowed(ctx, other); got || asked != 7 {
		t.Fatalf("another namespace shares the decision: allowed=%v asked=%d", got, asked)
	}
	fail = true
	clk.Step(11 * time.Minute)
	if _, err := c.Allowed(ctx, k); err == nil {
		t.Fatal("a failed review gave no error")
	}
	fail = false
	ask(true, 9) // the error was not stored
	if c.Reviews() != 9 {
		t.Fatalf("Reviews() = %d, want 9", c.Reviews())
	}
}
