package controlplane

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/endpointdns"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

func planConfig() Config {
	spec := func(name, addr string) APIServerSpec {
		return APIServerSpec{Name: name, Addr: netip.MustParseAddr(addr), Port: 6443, EtcdServers: []string{"http://127.0.0.1:2379"},
			CertFile: "c", KeyFile: "k", ClientCAFile: "ca", ServiceAccountKeyFile: "sk", ServiceAccountPubFile: "sp"}
	}
	target := spec("target", "127.0.0.2")
	target.EtcdServers = nil
	return Config{
		Etcd: etcdmig.Config{Cluster: &etcdmig.Cluster{}, Provisioner: &etcdmig.Exec{Command: []string{"true"}},
			Sources: []etcdmig.Member{{ID: 1, Name: "s1"}, {ID: 2, Name: "s2"}, {ID: 3, Name: "s3"}},
			Targets: []etcdmig.Target{
				{Name: "t1", PeerURL: "http://127.0.0.1:23801", ClientURL: "http://127.0.0.1:23791"},
				{Name: "t2", PeerURL: "http://127.0.0.1:23802", ClientURL: "http://127.0.0.1:23792"},
				{Name: "t3", PeerURL: "http://127.0.0.1:23803", ClientURL: "http://127.0.0.1:23793"},
			}},
		Endpoint: Endpoint{Name: "api.example.test", Port: 6443, CAFile: "ca", CertFile: "c", KeyFile: "k"},
		DNS:      &endpointdns.Exec{Record: "api.example.test"},
		Source:   spec("source", "127.0.0.1"), Target: target,
		SourceProvisioner: &Exec{Command: []string{"true"}}, TargetProvisioner: &Exec{Command: []string{"true"}},
	}
}

// The order is GEP-0039's: etcd grows, the target apiserver starts, DNS
// moves, the source drains and stops, and only then — at the point of no
// return — the source members go; the target apiserver gets the targets'
// client URLs.
func TestNewPlanOrder(t *testing.T) {
	t.Parallel()
	cp, err := NewPlan(planConfig())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cp.Plan.Steps {
		names = append(names, s.Name())
	}
	idx := func(n string) int { return slices.Index(names, n) }
	for _, pair := range [][2]string{
		{"preflight", "apiserver/preflight"}, {"promote/t3", "apiserver/start-target"},
		{"apiserver/start-target", "dns/switch"}, {"dns/switch", "apiserver/drain"},
		{"apiserver/drain", "apiserver/stop-source"}, {"apiserver/stop-source", "move-leader"},
		{"move-leader", "remove/s1"}, {"remove/s3", "apiserver/verify-final"},
	} {
		if a, b := idx(pair[0]), idx(pair[1]); a < 0 || b < 0 || a >= b {
			t.Errorf("%s (%d) must come before %s (%d)", pair[0], a, pair[1], b)
		}
	}
	if got := names[cp.Plan.PointOfNoReturn]; got != "remove/s1" {
		t.Errorf("point of no return at %q, want remove/s1", got)
	}
	if want := []string{"http://127.0.0.1:23791", "http://127.0.0.1:23792", "http://127.0.0.1:23793"}; !slices.Equal(cp.Config.Target.EtcdServers, want) {
		t.Errorf("target --etcd-servers %v, want %v", cp.Config.Target.EtcdServers, want)
	}
}

func TestNewPlanRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no dns", func(c *Config) { c.DNS = nil }},
		{"no provisioner", func(c *Config) { c.TargetProvisioner = nil }},
		{"same address", func(c *Config) { c.Target.Addr = c.Source.Addr }},
		{"port differs", func(c *Config) { c.Target.Port = 443 }},
		{"no endpoint name", func(c *Config) { c.Endpoint.Name = "" }},
		{"goaway too high", func(c *Config) { c.Source.GoawayChance = 0.1 }},
	} {
		c := planConfig()
		tc.mod(&c)
		if _, err := NewPlan(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: NewPlan = %v, want ErrInvalidConfig", tc.name, err)
		}
	}
}

// The drain waits 2·TTL+1 of the record's current TTL unless overridden; a
// negative override (the poc baseline) does not wait.
func TestDrainStepWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		override time.Duration
		want     time.Duration
	}{{0, 5 * time.Second}, {-1, 0}, {7 * time.Second, 7 * time.Second}} {
		c := planConfig()
		c.DNS = &endpointdns.Exec{Record: "api.example.test", GetCommand: "echo 2 127.0.0.1"}
		c.DrainWait = tc.override
		cp, err := NewPlan(c)
		if err != nil {
			t.Fatal(err)
		}
		var got time.Duration = -2
		for _, s := range cp.Plan.Steps {
			if d, ok := s.(*drainStep); ok {
				got = d.wait(t.Context())
			}
		}
		if got != tc.want {
			t.Errorf("DrainWait %s with TTL 2s: waits %s, want %s", tc.override, got, tc.want)
		}
	}
}
