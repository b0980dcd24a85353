package etcd

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func healthyFacts() Facts {
	mk := func(id uint64, name string, port int) MemberFacts {
		return MemberFacts{
			Member: Member{ID: id, Name: name,
				PeerURLs:   []string{"http://127.0.0.1:" + strconv.Itoa(port)},
				ClientURLs: []string{"http://127.0.0.1:" + strconv.Itoa(port+1)}},
			Endpoint: "http://127.0.0.1:" + strconv.Itoa(port+1), Reachable: true,
			Version: "3.6.5", DBSize: 1 << 20, Leader: 1, RTT: time.Millisecond,
		}
	}
	return Facts{
		Members: []MemberFacts{mk(1, "s1", 2380), mk(2, "s2", 2390), mk(3, "s3", 2400)},
		Targets: []Target{
			{Name: "t1", PeerURL: "http://127.0.0.1:3380", ClientURL: "http://127.0.0.1:3381"},
			{Name: "t2", PeerURL: "http://127.0.0.1:3390", ClientURL: "http://127.0.0.1:3391"},
			{Name: "t3", PeerURL: "http://127.0.0.1:3400", ClientURL: "http://127.0.0.1:3401"},
		},
		TargetVersion: "3.6.5",
	}
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Facts)
		want   string // substring of the one expected reason; "" = accepted
	}{
		{"healthy", func(*Facts) {}, ""},
		{"no members", func(f *Facts) { f.Members = nil }, "no members"},
		{"unreachable", func(f *Facts) { f.Members[1].Reachable = false; f.Members[1].Err = "connection refused" }, `"s2" (http://127.0.0.1:2391) is unreachable: connection refused`},
		{"learner present", func(f *Facts) { f.Members[2].IsLearner = true }, `"s3" is a learner`},
		{"alarm", func(f *Facts) { f.Members[0].Errors = []string{"NOSPACE"} }, "reports errors: NOSPACE"},
		{"no leader", func(f *Facts) {
			for i := range f.Members {
				f.Members[i].Leader = 0
			}
		}, "no leader"},
		{"split leader", func(f *Facts) { f.Members[2].Leader = 3 }, "disagree on the leader"},
		{"member versions differ", func(f *Facts) { f.Members[2].Version = "3.5.17" }, `different versions: 3.5 on "s3"; 3.6 on "s1","s2"`},
		{"target version unknown", func(f *Facts) { f.TargetVersion = ""; f.TargetVersionErr = "etcd: not found" }, "cannot tell which etcd version the targets would run: etcd: not found"},
		{"target version differs", func(f *Facts) { f.TargetVersion = "3.5.0" }, "target members would run etcd 3.5.0, the cluster runs 3.6"},
		{"patch differences are fine", func(f *Facts) { f.TargetVersion = "3.6.0"; f.Members[0].Version = "3.6.4" }, ""},
		{"learner limit", func(f *Facts) { f.MaxLearners = -1 }, "learner limit is -1"},
		{"duplicate target name", func(f *Facts) { f.Targets[1].Name = "t1" }, `target "t1": name is already used by target "t1"`},
		{"target named like a member", func(f *Facts) { f.Targets[0].Name = "s2" }, `name is already used by member "s2"`},
		{"target peer URL is a member", func(f *Facts) { f.Targets[0].PeerURL = "http://127.0.0.1:2390" }, `peer URL http://127.0.0.1:2390 is already used by member "s2"`},
		{"target client URL is a member", func(f *Facts) { f.Targets[0].ClientURL = "http://127.0.0.1:2381/" }, `client URL http://127.0.0.1:2381/ is already used by member "s1"`},
		{"bad URL", func(f *Facts) { f.Targets[0].PeerURL = "127.0.0.1:1" }, `target "t1" peer URL`},
		{"no targets", func(f *Facts) { f.Targets = nil }, "no targets"},
		{"db too large", func(f *Facts) { f.MaxDBSize = 1 << 10 }, "above the limit of 1024"},
		{"too far", func(f *Facts) { f.MaxRTT = time.Microsecond }, "round trip"},
		{"3 → 1 reduces fault tolerance", func(f *Facts) { f.Targets = f.Targets[:1] }, "3 → 1 members reduces fault tolerance from 1 to 0 failed members: add targets, or pass --allow-reduced-fault-tolerance"},
		{"3 → 2 reduces fault tolerance", func(f *Facts) { f.Targets = f.Targets[:2] }, "3 → 2 members reduces fault tolerance from 1 to 0"},
		{"3 → 1 allowed", func(f *Facts) { f.Targets = f.Targets[:1]; f.AllowReducedFaultTolerance = true }, ""},
		{"target quota below db plus headroom", func(f *Facts) { f.Members[1].DBSize = 3 << 30; f.TargetQuota = DefaultQuotaBackendBytes },
			"target quota (--quota-backend-bytes) is 2147483648 bytes, below the source database of 3221225472 bytes plus headroom (4026531840): pass --member-flag quota-backend-bytes=4026531840 or more"},
		{"target quota with headroom", func(f *Facts) { f.Members[1].DBSize = 1 << 30; f.TargetQuota = DefaultQuotaBackendBytes }, ""},
		{"target quota not checked", func(f *Facts) { f.Members[1].DBSize = 3 << 30; f.TargetQuota = 0 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := healthyFacts()
			tc.mutate(&f)
			got := Preflight(f)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("refused: %q", got)
				}
				if PreflightError(got) != nil {
					t.Fatal("PreflightError of no reasons is not nil")
				}
				return
			}
			found := false
			for _, r := range got {
				if strings.Contains(r, tc.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("reasons %q do not contain %q", got, tc.want)
			}
			if err := PreflightError(got); !errors.Is(err, ErrPreflight) {
				t.Fatalf("PreflightError = %v", err)
			}
		})
	}
}
