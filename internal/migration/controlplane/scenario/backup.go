package scenario

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/handover-dev/handover/internal/migration/controlplane"
	"github.com/handover-dev/handover/internal/migration/controlplane/localcp"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/probe"
)

// backupRestore is today's migration: snapshot, stop the source (apiserver,
// then etcd), restore the snapshot into the target members, start them and
// the target apiserver, switch DNS. Phases are marked on rec.
func backupRestore(ctx context.Context, l *localcp.Local, cfg controlplane.Config, rec *probe.Recorder, log io.Writer) error {
	step := func(name string) {
		rec.Mark(name)
		_, _ = fmt.Fprintf(log, "▶ %s\n", name)
	}
	step("snapshot")
	snap := filepath.Join(l.Dir, "snapshot.db")
	if err := saveSnapshot(ctx, l, snap); err != nil {
		return err
	}
	step("stop-source")
	// SIGKILL: the data is in the snapshot, and a graceful stop would only
	// add kube-apiserver's 60 s HTTP shutdown timeout while long-lived
	// connections stay open.
	l.APIServers.Kill(l.Source)
	if err := l.APIServers.Stop(ctx, l.Source); err != nil {
		return err
	}
	for _, m := range l.Sources {
		if err := l.SrcEtcd.Stop(ctx, m.Name); err != nil {
			return err
		}
	}
	step("restore")
	var ic []string
	for _, t := range l.Targets {
		ic = append(ic, t.Name+"="+t.PeerURL)
	}
	mgr := snapshot.NewV3(zap.NewNop())
	for _, t := range l.Targets {
		if err := mgr.Restore(snapshot.RestoreConfig{SnapshotPath: snap, Name: t.Name,
			OutputDataDir: filepath.Join(l.DstEtcd.BaseDir, t.Name), PeerURLs: []string{t.PeerURL},
			InitialCluster: strings.Join(ic, ","), InitialClusterToken: "handover-restored"}); err != nil {
			return fmt.Errorf("restore %s: %w", t.Name, err)
		}
	}
	for _, t := range l.Targets {
		if err := l.DstEtcd.Start(ctx, etcdmig.MemberSpec{Name: t.Name, PeerURL: t.PeerURL, ClientURL: t.ClientURL, ListenPeerURL: t.ListenPeerURL,
			InitialCluster: strings.Join(ic, ","), ClusterState: "new", ClusterToken: "handover-restored"}); err != nil {
			return err
		}
	}
	step("start-target")
	if err := l.APIServers.Start(ctx, cfg.Target); err != nil {
		return err
	}
	if err := l.WaitReady(ctx, cfg.Target.Addr, 2*time.Minute); err != nil {
		return err
	}
	step("dns/switch")
	if err := l.DNS.Set(ctx, []netip.Addr{cfg.Target.Addr}); err != nil {
		return err
	}
	// The etcd client of the harness follows the restored cluster.
	var eps []string
	for _, t := range l.Targets {
		eps = append(eps, t.ClientURL)
	}
	l.Cluster.Client().SetEndpoints(eps...)
	rec.Mark(probe.PhaseAfter)
	return nil
}

func saveSnapshot(ctx context.Context, l *localcp.Local, path string) error {
	rc, err := l.Cluster.Client().Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer func() { _ = rc.Close() }()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		_ = f.Close()
		return fmt.Errorf("snapshot: %w", err)
	}
	return f.Close()
}
