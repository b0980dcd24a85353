package etcd

import (
	"os"
	"path/filepath"
	"strings"
)

// DataDirReporter is implemented by provisioners that keep a member's data
// directory on this host, where the catch-up gate can watch a snapshot
// arrive (SnapshotBytes).
type DataDirReporter interface {
	// DataDir returns the member's --data-dir.
	DataDir(name string) string
}

// DataDir returns BaseDir/<name>, the member's --data-dir (DataDirReporter).
func (p *Process) DataDir(name string) string { return filepath.Join(p.BaseDir, name) }

// DataDir returns BaseDir/<name>, the member's data directory (DataDirReporter).
func (p *Embedded) DataDir(name string) string { return filepath.Join(p.BaseDir, name) }

// SnapshotBytes returns how many bytes of a database snapshot a member with
// data in dataDir has received and not yet applied: the sizes of the files
// etcd's snapshotter writes in <dataDir>/member/snap while a leader streams
// its database (a "tmp*" file during the copy, renamed "<index>.snap.db"
// when complete and moved into the backend once applied; etcd server
// etcdserver/api/snap/db.go SaveDBFrom). 0 when there is none or the
// directory cannot be read.
func SnapshotBytes(dataDir string) int64 {
	dir := filepath.Join(dataDir, "member", "snap")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, "tmp") && !strings.HasSuffix(name, ".snap.db") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}
