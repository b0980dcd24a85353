package etcdprobe

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/probe"
)

type countSink struct {
	ok, failed chan struct{}
}

func (s countSink) Add(smp probe.Sample) {
	if smp.OK() {
		select {
		case s.ok <- struct{}{}:
		default:
		}
	} else {
		select {
		case s.failed <- struct{}{}:
		default:
		}
	}
}

// TestProberOnRealEtcd runs writers, readers and the watcher against one
// embedded member, then checks that the verification passes, and that it
// fails once an acknowledged key is deleted behind the probe's back.
func TestProberOnRealEtcd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emb := &etcdmig.Embedded{BaseDir: t.TempDir()}
	ms, err := emb.StartCluster(ctx, "probe-test", []string{"p1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	p, err := New(ctx, Config{Endpoints: []string{ms[0].ClientURL}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { p.Watch(wctx); close(watchDone) }()

	sink := countSink{ok: make(chan struct{}, 1<<16), failed: make(chan struct{}, 1<<16)}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	for _, pr := range []probe.Probe{p.Writer(), p.Reader()} {
		r := &probe.Runner{Probe: pr, Rate: 200, Concurrency: 2, Sink: sink}
		go func() { _ = r.Run(rctx); done <- struct{}{} }()
	}
	for deadline := time.Now().Add(30 * time.Second); len(sink.ok) < 100; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d successful and %d failed attempts after 30s, want 100 successful", len(sink.ok), len(sink.failed))
		}
	}
	stop()
	<-done
	<-done
	res, err := p.Result(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Acknowledged == 0 || res.MissingAcknowledged != 0 || res.WatchGaps != 0 || res.StaleReads != 0 || len(sink.failed) != 0 {
		t.Fatalf("result %+v, failures %d", res, len(sink.failed))
	}
	if res.Checks()["missing_acknowledged_writes"] != 0 || res.Metrics()["worst_write_stall_ms"] <= 0 {
		t.Fatalf("checks %v metrics %v", res.Checks(), res.Metrics())
	}

	// Delete one acknowledged key with another client: the check must see it.
	other, err := clientv3.New(clientv3.Config{Endpoints: []string{ms[0].ClientURL}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Close() }()
	if _, err := other.Delete(ctx, p.Prefix()+"000000000001"); err != nil {
		t.Fatal(err)
	}
	res2, err := p.Result(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res2.MissingAcknowledged != 1 {
		t.Fatalf("missing = %d after deleting one acknowledged key, want 1", res2.MissingAcknowledged)
	}
	// The reader now misses the latest key if we delete it too.
	last := p.lastKey.Load()
	if _, err := other.Delete(ctx, last.Key); err != nil {
		t.Fatal(err)
	}
	if err := p.Reader().Once(ctx); !errors.Is(err, ErrStaleRead) {
		t.Fatalf("read after deleting the last acknowledged key: %v, want ErrStaleRead", err)
	}
	stopWatch()
	<-watchDone
}
