package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestParseInFlight(t *testing.T) {
	t.Parallel()
	kv := `grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"`
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr bool
	}{
		{"none", "other 1\n", 0, false},
		{"idle", "grpc_server_started_total{" + kv + "} 10\ngrpc_server_handled_total{grpc_code=\"OK\"," + kv + "} 9\ngrpc_server_handled_total{grpc_code=\"Unknown\"," + kv + "} 1\n", 0, false},
		{"two in flight", "grpc_server_started_total{" + kv + "} 12\ngrpc_server_handled_total{grpc_code=\"OK\"," + kv + "} 10\n", 2, false},
		{"watch streams not counted", "grpc_server_started_total{grpc_method=\"Watch\",grpc_service=\"etcdserverpb.Watch\",grpc_type=\"bidi_stream\"} 3\n", 0, false},
		{"maintenance not counted", "grpc_server_started_total{grpc_method=\"Status\",grpc_service=\"etcdserverpb.Maintenance\",grpc_type=\"unary\"} 3\n", 0, false},
		{"malformed", "grpc_server_started_total{" + kv + "} x\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseInFlight(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseInFlight = %v, %v; want %v (err %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// recordHold is a ClientHold that logs its calls and can fail Hold.
type recordHold struct {
	name string
	log  *[]string
	fail error
}

func (h recordHold) Hold(context.Context) error {
	*h.log = append(*h.log, "hold "+h.name)
	return h.fail
}

func (h recordHold) Release(context.Context) error {
	*h.log = append(*h.log, "release "+h.name)
	return nil
}

func TestHolds(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		failB   error
		want    []string
		wantErr error
	}{
		{"in order, released in reverse", nil, []string{"hold a", "hold b", "release b", "release a"}, nil},
		{"a failed hold releases those held", boom, []string{"hold a", "hold b", "release a"}, boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var log []string
			hs := Holds{recordHold{"a", &log, nil}, nil, recordHold{"b", &log, tc.failB}}
			err := hs.Hold(context.Background())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Hold = %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				if err := hs.Release(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(log, tc.want) {
				t.Fatalf("calls %q, want %q", log, tc.want)
			}
		})
	}
}

// gatedWriters puts keys through their own client from n goroutines until
// stop, each waiting while the gate is closed; it counts errors. Hold
// returns once no writer is between the gate and its Put's response.
type gatedWriters struct {
	mu     sync.Mutex
	open   *sync.Cond
	paused bool
	active int
	acked  atomic.Int64
	errs   atomic.Int64
	first  atomic.Pointer[error]
}

func (g *gatedWriters) Hold(context.Context) error {
	g.mu.Lock()
	g.paused = true
	for g.active > 0 {
		g.open.Wait()
	}
	g.mu.Unlock()
	return nil
}

func (g *gatedWriters) Release(context.Context) error {
	g.mu.Lock()
	g.paused = false
	g.mu.Unlock()
	g.open.Broadcast()
	return nil
}

func (g *gatedWriters) run(ctx context.Context, t *testing.T, eps []string, n int) *sync.WaitGroup {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return g.runWith(ctx, t, cli, n)
}

// runWith is run with a client of the caller's (closed at the test's end).
func (g *gatedWriters) runWith(ctx context.Context, t *testing.T, cli *clientv3.Client, n int) *sync.WaitGroup {
	t.Helper()
	g.open = sync.NewCond(&g.mu)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && i < 100000; i++ {
				g.mu.Lock()
				for g.paused && ctx.Err() == nil {
					g.open.Wait()
				}
				g.active++
				g.mu.Unlock()
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := cli.Put(pctx, fmt.Sprintf("w/%d/%d", w, i), "v")
				cancel()
				g.mu.Lock()
				g.active--
				g.open.Broadcast()
				g.mu.Unlock()
				time.Sleep(5 * time.Millisecond) // about 200 writes/s per writer at most
				switch {
				case err == nil:
					g.acked.Add(1)
				case ctx.Err() == nil:
					g.errs.Add(1)
					g.first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	go func() {
		<-ctx.Done()
		_ = g.Release(context.Background())
	}()
	t.Cleanup(func() { wg.Wait(); _ = cli.Close() })
	return &wg
}

// TestTransferLeadership moves leadership in a 3-member cluster twice: at
// the API's defaults (no hold), then back under a hold while 4 writers put
// through every member. The held transfer must cost the writers nothing:
// no error, no request in flight at the move, and every voter follows the
// new leader when TransferLeadership returns.
func TestTransferLeadership(t *testing.T) {
	src, ts, c := testCluster(t, 3)
	ctx := context.Background()
	leaderOf := func() (Member, []Member) {
		t.Helper()
		ms, err := c.Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Leader(c.Statuses(ctx, ms))
		if err != nil {
			t.Fatal(err)
		}
		return *findID(ms, l), ms
	}
	follower := func(ms []Member, leader uint64) uint64 {
		for _, m := range ms {
			if m.ID != leader {
				return m.ID
			}
		}
		t.Fatal("no follower")
		return 0
	}

	lead, ms := leaderOf()
	to := follower(ms, lead.ID)
	tr, err := TransferLeadership(ctx, c, ms, lead, to, TransferOptions{})
	if err != nil {
		t.Fatalf("transfer at defaults: %v", err)
	}
	if tr.Held {
		t.Fatalf("transfer without a hold reports held: %s", tr)
	}
	for _, s := range c.Statuses(ctx, ms) {
		if !s.Healthy() || s.Status.Leader != to {
			t.Fatalf("after the transfer %s reports leader %x, want %x (%v)", memberLabel(s.Member), s.Status.Leader, to, s.Err)
		}
	}

	var eps []string
	for _, m := range ts {
		eps = append(eps, m.ClientURL)
	}
	wctx, stop := context.WithCancel(ctx)
	g := &gatedWriters{}
	wg := g.run(wctx, t, eps, 4)
	for g.acked.Load() < 50 {
		time.Sleep(10 * time.Millisecond)
	}
	lead, ms = leaderOf()
	to = follower(ms, lead.ID)
	tr, err = TransferLeadership(ctx, c, ms, lead, to, TransferOptions{Hold: g, MetricsURL: MetricsURLs(src)})
	before := g.acked.Load()
	for g.acked.Load() < before+50 { // the hold was released
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("held transfer: %v", err)
	}
	t.Logf("held transfer: %s; writes acknowledged %d, failed %d", tr, g.acked.Load(), g.errs.Load())
	if !tr.Held || tr.InFlight != 0 {
		t.Fatalf("held transfer %s: want held with 0 requests in flight", tr)
	}
	if n := g.errs.Load(); n != 0 {
		t.Fatalf("held writers saw %d errors, first: %v", n, *g.first.Load())
	}
	for _, s := range c.Statuses(ctx, ms) {
		if !s.Healthy() || s.Status.Leader != to {
			t.Fatalf("after the held transfer %s reports leader %x, want %x", memberLabel(s.Member), s.Status.Leader, to)
		}
	}
}
