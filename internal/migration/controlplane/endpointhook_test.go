package controlplane

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/plan"
)

type fakeStep struct {
	check     plan.Result
	revertErr error
}

func (f *fakeStep) Name() string                      { return "dns/switch" }
func (f *fakeStep) Apply(context.Context) error       { return nil }
func (f *fakeStep) Check(context.Context) plan.Result { return f.check }
func (f *fakeStep) Revert(context.Context) error      { return f.revertErr }
func (f *fakeStep) Describe() string                  { return "set the record" }
func (f *fakeStep) Timeout() time.Duration            { return 42 * time.Second }

// The hook is asked only once the step is Done, and its error fails the
// gate with its reason; a revert tells it the restored endpoints.
func TestHookedGates(t *testing.T) {
	t.Parallel()
	refuse := errors.New("load balancer still points at the source")
	for _, tc := range []struct {
		name      string
		check     plan.Result
		hookErr   error
		wantState plan.CheckState
		wantCalls int
		want      string
	}{
		{"not yet: no call", plan.NotYet("record is 127.0.0.1"), nil, plan.CheckNotYet, 0, "record is"},
		{"failed: no call", plan.Failed("broken"), nil, plan.CheckFailed, 0, "broken"},
		{"done and accepted", plan.Done(), nil, plan.CheckDone, 1, ""},
		{"done and refused", plan.Done(), refuse, plan.CheckFailed, 1, "endpoint hook refused apiserver → 127.0.0.2: load balancer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []EndpointChange
			h := &hooked{Step: &fakeStep{check: tc.check}, kind: EndpointsAPIServer,
				endpoints: func(_ context.Context, reverted bool) ([]string, error) {
					if reverted {
						return []string{"127.0.0.1"}, nil
					}
					return []string{"127.0.0.2"}, nil
				},
				hook: func(_ context.Context, ch EndpointChange) error { got = append(got, ch); return tc.hookErr }}
			r := h.Check(context.Background())
			if r.State != tc.wantState || !strings.Contains(r.Reason, tc.want) {
				t.Errorf("Check = %s %q, want %s containing %q", r.State, r.Reason, tc.wantState, tc.want)
			}
			if len(got) != tc.wantCalls {
				t.Fatalf("hook called %d times, want %d", len(got), tc.wantCalls)
			}
			if tc.wantCalls == 1 && got[0].String() != "apiserver → 127.0.0.2 (after dns/switch)" {
				t.Errorf("hook told %q", got[0])
			}
		})
	}
}

func TestHookedRevertAndPassThrough(t *testing.T) {
	t.Parallel()
	var got []EndpointChange
	hookErr := error(nil)
	inner := &fakeStep{check: plan.Done()}
	h := &hooked{Step: inner, kind: EndpointsAPIServer,
		endpoints: func(_ context.Context, reverted bool) ([]string, error) {
			if reverted {
				return []string{"127.0.0.1"}, nil
			}
			return []string{"127.0.0.2"}, nil
		},
		hook: func(_ context.Context, ch EndpointChange) error { got = append(got, ch); return hookErr }}
	if err := h.Revert(context.Background()); err != nil || len(got) != 1 || got[0].String() != "apiserver → 127.0.0.1 (after dns/switch) reverted" {
		t.Fatalf("revert: %v, hook told %v", err, got)
	}
	hookErr = errors.New("no")
	if err := h.Revert(context.Background()); err == nil || !strings.Contains(err.Error(), "endpoint hook after reverting dns/switch: no") {
		t.Errorf("revert with a refusing hook: %v", err)
	}
	inner.revertErr = errors.New("dns down")
	got = nil
	if err := h.Revert(context.Background()); err == nil || len(got) != 0 {
		t.Errorf("failed inner revert: %v, hook told %v (want not told)", err, got)
	}
	if h.Timeout() != 42*time.Second || !strings.HasPrefix(h.Describe(), "set the record; then the endpoint hook") {
		t.Errorf("pass-through: timeout %s, describe %q", h.Timeout(), h.Describe())
	}
}
