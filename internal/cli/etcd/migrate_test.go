package etcd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

var goldenTargets = []string{
	"--to", "t1=http://127.0.0.1:23801,http://127.0.0.1:23791",
	"--to", "t2=http://127.0.0.1:23802,http://127.0.0.1:23792",
	"--to", "t3=http://127.0.0.1:23803,http://127.0.0.1:23793",
}

// TestPlanGolden: --plan prints the membership sequence, steps and gates,
// and changes nothing (membership unchanged, no state dir).
func TestPlanGolden(t *testing.T) {
	ms, c := sourceCluster(t, 3)
	before := membership(t, c)
	state := filepath.Join(t.TempDir(), "state")
	args := append([]string{"--endpoints", strings.Join(endpointsOf(ms), ","), "--provisioner", "embedded",
		"--state-dir", state, "--data-dir", "/var/lib/handover-golden", "--member-flag", "snapshot-count=5000", "--plan"}, goldenTargets...)
	out, _, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("--plan: %v\n%s", err, out)
	}
	pairs := map[string]string{}
	for _, m := range ms {
		pairs[m.PeerURL] = "<peer-" + m.Name + ">"
	}
	got := replaceAll(out, pairs)
	golden := filepath.Join("testdata", "plan.golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("--plan output differs from %s (UPDATE_GOLDEN=1 to rewrite):\n%s", golden, got)
	}
	if after := membership(t, c); !slices.Equal(before, after) {
		t.Errorf("membership changed by --plan:\n%q\n%q", before, after)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("--plan created the state dir (%v)", err)
	}
}

// TestBadInput: every class of bad input is refused with a clear error and
// the cluster's membership is unchanged.
func TestBadInput(t *testing.T) {
	ms, c := sourceCluster(t, 3)
	before := membership(t, c)
	eps := strings.Join(endpointsOf(ms), ",")
	deadURL, err := etcdmig.FreeLoopbackURL()
	if err != nil {
		t.Fatal(err)
	}
	oldEtcd := fakeEtcd(t, "3.5.17")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown endpoint", []string{"--endpoints", deadURL, "--to", "t1=http://127.0.0.1:23801,http://127.0.0.1:23791"},
			"flag --endpoints: endpoint unreachable: endpoint " + deadURL},
		{"duplicate target name", []string{"--endpoints", eps, "--to", "t1=http://127.0.0.1:23801,http://127.0.0.1:23791", "--to", "t1=http://127.0.0.1:23802,http://127.0.0.1:23792"},
			`target "t1": name is already used by target "t1"`},
		{"target named like a member", []string{"--endpoints", eps, "--to", "s2=http://127.0.0.1:23801,http://127.0.0.1:23791"},
			`target "s2": name is already used by member "s2"`},
		{"target peer URL is a member's", []string{"--endpoints", eps, "--to", "t1=" + ms[0].PeerURL + ",http://127.0.0.1:23791"},
			`target "t1": peer URL ` + ms[0].PeerURL + ` is already used by member "s1"`},
		{"target client URL is a member's", []string{"--endpoints", eps, "--to", "t1=http://127.0.0.1:23801," + ms[1].ClientURL},
			`target "t1": client URL ` + ms[1].ClientURL + ` is already used by member "s2"`},
		{"version mismatch", []string{"--endpoints", eps, "--provisioner", "process", "--etcd-binary", oldEtcd, "--data-dir", t.TempDir(), "--to", "t1=http://127.0.0.1:23801,http://127.0.0.1:23791"},
			"target members would run etcd 3.5.17, the cluster runs 3.6"},
		{"malformed target", []string{"--endpoints", eps, "--to", "t1=http://127.0.0.1:23801"},
			"flag --to: invalid target"},
		{"port out of range", []string{"--endpoints", eps, "--to", "t1=http://127.0.0.1:99999,http://127.0.0.1:23791"},
			`flag --to: invalid target: target "t1" peer URL "http://127.0.0.1:99999": port "99999" is not a number from 1 to 65535`},
		{"unresolvable host", []string{"--endpoints", eps, "--to", "t1=http://127.0.0.1:23801,http://no-such-host.invalid:2379"},
			`flag --to: target "t1" client URL "http://no-such-host.invalid:2379": host "no-such-host.invalid" does not resolve`},
		{"3 → 1 members", []string{"--endpoints", eps, "--to", "t1=http://127.0.0.1:23801,http://127.0.0.1:23791"},
			"3 → 1 members reduces fault tolerance from 1 to 0 failed members: add targets, or pass --allow-reduced-fault-tolerance"},
		{"quota below the database", append([]string{"--endpoints", eps, "--member-flag", "quota-backend-bytes=1048576"}, goldenTargets...),
			"target quota (--quota-backend-bytes) is 1048576 bytes, below the source database"},
		{"bad member flag", append([]string{"--endpoints", eps, "--member-flag", "name=x"}, goldenTargets...),
			`flag --member-flag: invalid config: member flag "name=x": handover sets --name itself`},
		{"data dir inside the state dir", append([]string{"--endpoints", eps, "--provisioner", "process", "--data-dir", "DATA_IN_STATE"}, goldenTargets...),
			"is inside --state-dir"},
		{"process without a data dir", append([]string{"--endpoints", eps, "--provisioner", "process"}, goldenTargets...),
			"flag --data-dir: required with --provisioner process"},
		{"unknown provisioner", []string{"--endpoints", eps, "--provisioner", "k8s", "--to", "t1=http://127.0.0.1:23801,http://127.0.0.1:23791"},
			`flag --provisioner: unknown provisioner "k8s"`},
		{"dns name without commands", append([]string{"--endpoints", eps, "--dns-name", "etcd.example"}, goldenTargets...),
			"flags --dns-name, --dns-get and --dns-set: give all three or none"},
		{"dns name invalid", append([]string{"--endpoints", eps, "--dns-name", "a..b", "--dns-get", "true", "--dns-set", "true"}, goldenTargets...),
			`flag --dns-name: invalid dns record: name "a..b" is not a domain name`},
		{"dns with a host-name target", []string{"--endpoints", eps, "--dns-name", "etcd.example", "--dns-get", "true", "--dns-set", "true",
			"--to", "t1=http://127.0.0.1:23801,http://localhost:23791"},
			`flag --dns-name: target "t1": invalid config: endpoint "http://localhost:23791": the DNS record needs an IPv4 address, not host "localhost"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			args := slices.Clone(tc.args)
			for i, a := range args {
				if a == "DATA_IN_STATE" {
					args[i] = filepath.Join(state, "members")
				}
			}
			if !slices.Contains(args, "--data-dir") && tc.name != "process without a data dir" {
				args = append(args, "--data-dir", filepath.Join(t.TempDir(), "data"))
			}
			_, _, err := runCLI(t, append(args, "--state-dir", state)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if after := membership(t, c); !slices.Equal(before, after) {
				t.Fatalf("membership changed:\n%q\n%q", before, after)
			}
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Errorf("state dir created (%v)", err)
			}
		})
	}
}
