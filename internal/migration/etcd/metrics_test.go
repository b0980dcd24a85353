package etcd

import (
	"strings"
	"testing"
)

func TestParseProgressMetrics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		applied uint64
		db      int64
		wantErr bool
	}{
		{"both", "# HELP x\n# TYPE etcd_server_proposals_applied_total gauge\netcd_server_proposals_applied_total 812\netcd_mvcc_db_total_size_in_bytes 3.3554432e+07\nother 1\n", 812, 32 << 20, false},
		{"missing db", "etcd_server_proposals_applied_total 812\n", 0, 0, true},
		{"malformed", "etcd_server_proposals_applied_total x\netcd_mvcc_db_total_size_in_bytes 1\n", 0, 0, true},
		{"labelled lines ignored", "etcd_mvcc_db_total_size_in_bytes{a=\"b\"} 5\netcd_server_proposals_applied_total 1\netcd_mvcc_db_total_size_in_bytes 7\n", 1, 7, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, d, err := ParseProgressMetrics(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr || a != tc.applied || d != tc.db {
				t.Fatalf("= %d, %d, %v; want %d, %d (err %v)", a, d, err, tc.applied, tc.db, tc.wantErr)
			}
		})
	}
}
