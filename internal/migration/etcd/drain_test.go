package etcd

import (
	"strings"
	"testing"
	"time"
)

func TestParseClientRequests(t *testing.T) {
	t.Parallel()
	in := `# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 100
grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 5
grpc_server_handled_total{grpc_code="OK",grpc_method="LeaseGrant",grpc_service="etcdserverpb.Lease",grpc_type="unary"} 3
grpc_server_handled_total{grpc_code="OK",grpc_method="Status",grpc_service="etcdserverpb.Maintenance",grpc_type="unary"} 900
grpc_server_handled_total{grpc_code="OK",grpc_method="MemberList",grpc_service="etcdserverpb.Cluster",grpc_type="unary"} 70
grpc_server_handled_total{grpc_code="Canceled",grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 2
grpc_server_started_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 5
grpc_server_started_total{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 105
`
	handled, watches, err := ParseClientRequests(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if handled != 108 || watches != 3 {
		t.Fatalf("handled %v watches %v, want 108 and 3", handled, watches)
	}
	if _, _, err := ParseClientRequests(strings.NewReader(`grpc_server_handled_total{grpc_service="etcdserverpb.KV",grpc_type="unary"} x` + "\n")); err == nil {
		t.Fatal("malformed value accepted")
	}
}

func TestDrained(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		a, b     DrainSample
		max      float64
		wantRate float64
		want     bool
	}{
		{"idle", DrainSample{At: t0, Handled: 10}, DrainSample{At: t0.Add(time.Second), Handled: 10}, 1, 0, true},
		{"busy", DrainSample{At: t0, Handled: 10}, DrainSample{At: t0.Add(2 * time.Second), Handled: 110}, 1, 50, false},
		{"at the limit", DrainSample{At: t0, Handled: 10}, DrainSample{At: t0.Add(time.Second), Handled: 11}, 1, 1, true},
		{"idle with a watch open", DrainSample{At: t0}, DrainSample{At: t0.Add(time.Second), Watches: 1}, 1, 0, true},
		{"counter reset", DrainSample{At: t0, Handled: 500}, DrainSample{At: t0.Add(time.Second), Handled: 4}, 1, 4, false},
		{"no time passed", DrainSample{At: t0}, DrainSample{At: t0}, 1, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rate, ok := Drained(tc.a, tc.b, tc.max)
			if rate != tc.wantRate || ok != tc.want {
				t.Fatalf("Drained = %v, %v; want %v, %v", rate, ok, tc.wantRate, tc.want)
			}
		})
	}
}

func TestCanStopBeforeRemove(t *testing.T) {
	t.Parallel()
	v := func(id uint64, healthy, leader bool) VoterHealth {
		return VoterHealth{ID: id, Healthy: healthy, Leader: leader}
	}
	tests := []struct {
		name   string
		voters []VoterHealth
		id     uint64
		want   string
	}{
		{"3+3, stop a source", []VoterHealth{v(1, true, false), v(2, true, false), v(3, true, false), v(4, true, true), v(5, true, false), v(6, true, false)}, 1, ""},
		{"1+3, stop the last source", []VoterHealth{v(1, true, false), v(4, true, true), v(5, true, false), v(6, true, false)}, 1, ""},
		{"1+1: stopping loses quorum", []VoterHealth{v(1, true, false), v(4, true, true)}, 1, "without it 1 healthy voters remain of 2, below the quorum of 2"},
		{"leader", []VoterHealth{v(1, true, true), v(2, true, false), v(3, true, false)}, 1, "it leads"},
		{"another voter down", []VoterHealth{v(1, true, false), v(2, false, false), v(3, true, true), v(4, true, false)}, 1, "below the quorum of 3"},
		{"not a voter", []VoterHealth{v(1, true, true)}, 9, "not a voter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := CanStopBeforeRemove(tc.voters, tc.id)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("CanStopBeforeRemove = %q, want %q", got, tc.want)
			}
		})
	}
}
