package demo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// backupRestore is the wall time of moving a cluster the offline way, on
// the same data: etcdctl snapshot save from one member, etcdutl snapshot
// restore into n new data directories, and starting those n members until
// the new cluster has a leader and answers. Clients cannot write to the new
// cluster before it answers, and writes the old one acknowledged after the
// save are not in it: the whole wall is downtime for a real move.
type backupRestore struct {
	Save, Restore, Start time.Duration
	Bytes                int64
}

// Wall is Save + Restore + Start.
func (b backupRestore) Wall() time.Duration { return b.Save + b.Restore + b.Start }

// measureBackupRestore saves a snapshot from endpoint into dir, restores it
// into n members named b1…bn on free loopback ports under dir, starts them
// with prov and waits until one reports a leader; the members are left to
// the caller (prov.Close).
func measureBackupRestore(ctx context.Context, endpoint, dir string, n int, prov *etcdmig.Embedded, clk clock.PassiveClock) (backupRestore, error) {
	var b backupRestore
	snap := filepath.Join(dir, "snapshot.db")
	t0 := clk.Now()
	if _, err := snapshot.SaveWithVersion(ctx, zap.NewNop(), clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second}, snap); err != nil {
		return b, fmt.Errorf("snapshot save: %w", err)
	}
	b.Save = clk.Since(t0)
	urls, err := etcdmig.FreeLoopbackURLs(2 * n)
	if err != nil {
		return b, err
	}
	var specs []etcdmig.MemberSpec
	var ic []string
	for i := range n {
		s := etcdmig.MemberSpec{Name: fmt.Sprintf("b%d", i+1), PeerURL: urls[2*i], ClientURL: urls[2*i+1], //nolint:gosec // G101: a cluster token, not a credential
			ClusterState: "new", ClusterToken: "handover-demo-restore"}
		specs = append(specs, s)
		ic = append(ic, s.Name+"="+s.PeerURL)
	}
	t1 := clk.Now()
	for i := range specs {
		specs[i].InitialCluster = strings.Join(ic, ",")
		if err := etcdutl.NewV3(zap.NewNop()).Restore(etcdutl.RestoreConfig{
			SnapshotPath: snap, Name: specs[i].Name, OutputDataDir: prov.DataDir(specs[i].Name),
			PeerURLs: []string{specs[i].PeerURL}, InitialCluster: specs[i].InitialCluster,
			InitialClusterToken: specs[i].ClusterToken,
		}); err != nil {
			return b, fmt.Errorf("snapshot restore %s: %w", specs[i].Name, err)
		}
	}
	b.Restore = clk.Since(t1)
	t2 := clk.Now()
	for _, s := range specs {
		if err := prov.Start(ctx, s); err != nil {
			return b, err
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{specs[0].ClientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return b, err
	}
	defer func() { _ = cli.Close() }()
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, specs[0].ClientURL)
		cancel()
		if err == nil && st.Leader != 0 {
			b.Bytes = st.DbSize
			break
		}
		if clk.Since(t2) > 2*time.Minute {
			if err == nil {
				err = errors.New("status reports no leader")
			}
			return b, fmt.Errorf("restored cluster has no leader after 2m: %w", err)
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	b.Start = clk.Since(t2)
	return b, nil
}
