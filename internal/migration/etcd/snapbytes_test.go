package etcd

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSnapshotBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if got := SnapshotBytes(dir); got != 0 {
		t.Fatalf("no member dir: %d", got)
	}
	snap := filepath.Join(dir, "member", "snap")
	if err := os.MkdirAll(snap, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{
		"tmp123456":                              1000, // being received (os.CreateTemp(dir, "tmp"))
		"0000000000001234.snap.db":               500,  // received, not applied yet
		"0000000000000002-0000000000001234.snap": 77,   // raft snapshot metadata: not counted
		"db":                                     4096, // not counted
	} {
		if err := os.WriteFile(filepath.Join(snap, name), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := SnapshotBytes(dir); got != 1500 {
		t.Fatalf("SnapshotBytes = %d, want 1500", got)
	}
}
