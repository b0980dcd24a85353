package etcd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/plan"
)

func TestHooksAndLasting(t *testing.T) {
	t.Parallel()
	var told []string
	rec := func(name string, err error) EndpointHook {
		return func(_ context.Context, ch EndpointChange) error {
			told = append(told, name+":"+ch.Step)
			return err
		}
	}
	no := errors.New("no")
	lasting := EndpointChange{Step: "promote/t1", Endpoints: []string{"http://a"}}
	transient := EndpointChange{Step: "verify/before-removal", Endpoints: []string{"http://a"}, Transient: true}
	for _, tc := range []struct {
		name    string
		hook    EndpointHook
		ch      EndpointChange
		want    string
		wantErr bool
	}{
		{"in order", Hooks(rec("a", nil), nil, rec("b", nil)), lasting, "a:promote/t1 b:promote/t1", false},
		{"first error stops", Hooks(rec("a", no), rec("b", nil)), lasting, "a:promote/t1", true},
		{"one", Hooks(nil, rec("a", nil)), lasting, "a:promote/t1", false},
		{"lasting passes a lasting change", Lasting(rec("a", no)), lasting, "a:promote/t1", true},
		{"lasting drops a transient one", Lasting(rec("a", no)), transient, "", false},
		{"chain with lasting", Hooks(rec("probe", nil), Lasting(rec("user", nil))), transient, "probe:verify/before-removal", false},
	} {
		told = nil
		err := tc.hook(context.Background(), tc.ch)
		if got := strings.Join(told, " "); got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: told %q, err %v; want %q, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
	if Hooks() != nil || Hooks(nil, nil) != nil || Lasting(nil) != nil {
		t.Error("Hooks of no hooks, or Lasting(nil), is not nil")
	}
}

func TestEndpointChangeString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ch   EndpointChange
		want string
	}{
		{EndpointChange{Step: "promote/t1", Kind: EndpointsEtcd, Endpoints: []string{"http://a", "http://b"}}, "etcd → http://a,http://b (after promote/t1)"},
		{EndpointChange{Step: "remove/s1", Kind: EndpointsEtcd, Endpoints: []string{"http://b"}, Leaving: &Member{Name: "s1"}}, "etcd → http://b (before remove/s1)"},
		{EndpointChange{Step: "provision/t1", Kind: EndpointsEtcd, Endpoints: []string{"http://a"}, Leaving: &Member{Name: "t1"}, Reverted: true}, "etcd → http://a (before provision/t1) reverted"},
		{EndpointChange{Step: "verify/x", Kind: EndpointsEtcd, Endpoints: []string{"http://a"}, Transient: true}, "etcd → http://a (after verify/x) transient"},
	} {
		if got := tc.ch.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// TestEtcdEndpointHookRefusalRollsBack: a hook that refuses the second
// promotion fails promote/t2 with its reason; the rollback tells the hook
// the voters without each promoted target before removing it (Leaving,
// Reverted), and membership ends as before.
func TestEtcdEndpointHookRefusalRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: embedded etcd")
	}
	ctx := context.Background()
	c, before, _, targets, dst := rollbackSetup(t, 50, 256, 2)
	var told []EndpointChange
	hook := func(_ context.Context, ch EndpointChange) error {
		told = append(told, ch)
		if ch.Step == "promote/t2" && !ch.Reverted {
			return errors.New("load balancer not updated")
		}
		return nil
	}
	p, err := NewPlan(Config{Cluster: c, Sources: before, Targets: targets, Provisioner: dst,
		PollInterval: 50 * time.Millisecond, DrainDelay: 50 * time.Millisecond, OnEndpoints: hook})
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&plan.Runner{}).Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeRolledBack || !strings.Contains(st.Reason, "endpoint hook refused etcd") || !strings.Contains(st.Reason, "load balancer not updated") {
		t.Fatalf("outcome %s (%s), want RolledBack by the hook's refusal", st.Outcome, st.Reason)
	}
	after, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(memberNames(after), memberNames(before)) {
		t.Fatalf("membership after rollback %q, want %q", memberNames(after), memberNames(before))
	}
	// Both targets were voters when the rollback removed them: each was
	// announced as leaving first, and no list told after that names it.
	announced := map[string]int{}
	for i, ch := range told {
		if ch.Leaving != nil && ch.Reverted {
			announced[ch.Leaving.Name] = i
		}
	}
	for _, tg := range targets {
		i, ok := announced[tg.Name]
		if !ok {
			t.Fatalf("rollback removed %s without telling the hook; told %v", tg.Name, told)
		}
		for _, ch := range told[i:] {
			if slices.Contains(ch.Endpoints, tg.ClientURL) {
				t.Errorf("%s lists %s after it was announced as leaving", ch, tg.Name)
			}
		}
	}
}
