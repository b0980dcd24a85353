package etcd

import (
	"slices"
	"testing"
)

func TestHashedMembers(t *testing.T) {
	t.Parallel()
	st := func(ids ...uint64) []MemberStatus {
		var out []MemberStatus
		for _, id := range ids {
			out = append(out, MemberStatus{Member: Member{ID: id}})
		}
		return out
	}
	ids := func(sts []MemberStatus) []uint64 {
		var out []uint64
		for _, s := range sts {
			out = append(out, s.ID)
		}
		return out
	}
	tests := []struct {
		name   string
		sts    []MemberStatus
		leader uint64
		want   []uint64
	}{
		{"six members: the five followers", st(1, 2, 3, 4, 5, 6), 4, []uint64{1, 2, 3, 5, 6}},
		{"three members: two followers", st(1, 2, 3), 1, []uint64{2, 3}},
		{"two members: both (one follower compares with nothing)", st(1, 2), 1, []uint64{1, 2}},
		{"one member", st(7), 7, []uint64{7}},
		{"leader unknown: all", st(1, 2, 3), 0, []uint64{1, 2, 3}},
		{"leader not among them", st(1, 2, 3), 9, []uint64{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ids(HashedMembers(tc.sts, tc.leader)); !slices.Equal(got, tc.want) {
				t.Fatalf("HashedMembers = %v, want %v", got, tc.want)
			}
		})
	}
}
