package etcd

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestMinTargetQuota(t *testing.T) {
	t.Parallel()
	tests := []struct {
		db, want int64
	}{
		{0, 256 << 20},
		{64 << 20, 320 << 20},
		{1 << 30, 1<<30 + 256<<20},
		{4 << 30, 5 << 30},
	}
	for _, tc := range tests {
		if got := MinTargetQuota(tc.db); got != tc.want {
			t.Errorf("MinTargetQuota(%d) = %d, want %d", tc.db, got, tc.want)
		}
	}
}

func TestParseMemberFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []string
		err  string
	}{
		{"none", nil, []string{}, ""},
		{"two", []string{"quota-backend-bytes=8589934592", "auto-compaction-retention=1h"},
			[]string{"--quota-backend-bytes=8589934592", "--auto-compaction-retention=1h"}, ""},
		{"empty value", []string{"experimental-x="}, []string{"--experimental-x="}, ""},
		{"no equals", []string{"quota-backend-bytes"}, nil, `member flag "quota-backend-bytes": want KEY=VALUE`},
		{"dashed key", []string{"--quota-backend-bytes=1"}, nil, "without dashes"},
		{"reserved", []string{"data-dir=/tmp"}, nil, "handover sets --data-dir itself"},
		{"twice", []string{"snapshot-count=1", "snapshot-count=2"}, nil, "--snapshot-count given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMemberFlags(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("error %v, want ErrInvalidConfig containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestInheritFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		flags   []string
		quota   int64
		want    []string
		wantQ   int64
		wantErr bool
	}{
		{"inherits the source quota", nil, 8 << 30, []string{"--quota-backend-bytes=8589934592"}, 8 << 30, false},
		{"user flag wins", []string{"--quota-backend-bytes=4294967296"}, 8 << 30, []string{"--quota-backend-bytes=4294967296"}, 4 << 30, false},
		{"unknown source quota", []string{"--snapshot-count=1000"}, 0, []string{"--snapshot-count=1000"}, DefaultQuotaBackendBytes, false},
		{"zero means etcd's default", []string{"--quota-backend-bytes=0"}, 0, []string{"--quota-backend-bytes=0"}, DefaultQuotaBackendBytes, false},
		{"not a number", []string{"--quota-backend-bytes=8GiB"}, 0, []string{"--quota-backend-bytes=8GiB"}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := InheritFlags(tc.flags, tc.quota)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("InheritFlags = %q, want %q", got, tc.want)
			}
			q, err := TargetQuota(got)
			if (err != nil) != tc.wantErr || q != tc.wantQ {
				t.Fatalf("TargetQuota = %d, %v; want %d (error %v)", q, err, tc.wantQ, tc.wantErr)
			}
		})
	}
}

func TestReducedFaultTolerance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, tgt int
		want     string
	}{
		{3, 3, ""}, {3, 5, ""}, {3, 4, ""}, {1, 1, ""}, {5, 3, "5 → 3 members reduces fault tolerance from 2 to 1 failed members"},
		{3, 1, "3 → 1 members reduces fault tolerance from 1 to 0 failed members"}, {3, 0, ""},
	}
	for _, tc := range tests {
		if got := ReducedFaultTolerance(tc.src, tc.tgt); got != tc.want {
			t.Errorf("ReducedFaultTolerance(%d, %d) = %q, want %q", tc.src, tc.tgt, got, tc.want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	in := `# HELP etcd_server_quota_backend_bytes Current backend storage quota size in bytes.
# TYPE etcd_server_quota_backend_bytes gauge
etcd_server_quota_backend_bytes 8.589934592e+09
etcd_network_peer_received_bytes_total{From="a"} 100
etcd_network_peer_received_bytes_total{From="b"} 23
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 7
`
	got, err := ParseMetrics(strings.NewReader(in), "etcd_server_quota_backend_bytes", "etcd_network_peer_received_bytes_total", "absent")
	if err != nil {
		t.Fatal(err)
	}
	if got["etcd_server_quota_backend_bytes"] != 8<<30 || got["etcd_network_peer_received_bytes_total"] != 123 {
		t.Fatalf("got %v", got)
	}
	if _, ok := got["absent"]; ok {
		t.Fatal("absent metric reported")
	}
	if _, err := ParseMetrics(strings.NewReader("etcd_server_quota_backend_bytes x\n"), "etcd_server_quota_backend_bytes"); err == nil {
		t.Fatal("malformed value accepted")
	}
}
