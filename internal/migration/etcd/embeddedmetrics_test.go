package etcd

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestEmbeddedMembersServeTheirOwnClientMetrics writes through one member
// of an embedded 3-member cluster only. On the members' client URLs etcd
// serves Prometheus' process-wide registry, in which only the first gRPC
// server started in the process registered its metrics (etcd logs "failed
// to register grpc metrics" for the others), so all three serve the same
// numbers there, whoever received the writes; on their own metrics URLs
// (Embedded.MetricsURL) only the member written to counts them, which is
// what the drain gate and the transfer's quiet check read
// (Config.MetricsURL defaults to the embedded provisioner's).
func TestEmbeddedMembersServeTheirOwnClientMetrics(t *testing.T) {
	src, ts, c := testCluster(t, 3)
	ctx := context.Background()
	read := func(base string) float64 {
		t.Helper()
		var n float64
		if err := c.scrape(ctx, base, func(r io.Reader) error {
			var err error
			n, _, err = ParseClientRequests(r)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	own := func(name string) string {
		t.Helper()
		u, ok := src.MetricsURL(name)
		if !ok {
			t.Fatalf("no metrics URL for %s", name)
		}
		return u
	}
	before := map[string]float64{}
	for _, m := range ts {
		before[m.Name] = read(own(m.Name))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ts[0].ClientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	const writes = 20
	for i := range writes {
		if _, err := cli.Put(ctx, fmt.Sprintf("own-metrics/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(own(ts[0].Name)) - before[ts[0].Name]; got < writes {
		t.Fatalf("%s's own metrics count %.0f client requests, want ≥ %d", ts[0].Name, got, writes)
	}
	shared := read(ts[0].ClientURL)
	for _, m := range ts[1:] {
		if got := read(own(m.Name)) - before[m.Name]; got != 0 {
			t.Fatalf("%s's own metrics count %.0f client requests, want 0 (nothing was sent to it)", m.Name, got)
		}
		if got := read(m.ClientURL); got != shared {
			t.Fatalf("%s's client URL /metrics shows %.0f, %s's %.0f: want one process-wide figure (the reason for own metrics)", m.Name, got, ts[0].Name, shared)
		}
	}
	if _, ok := src.MetricsURL("nobody"); ok {
		t.Fatal("MetricsURL of a member it does not run: ok")
	}
}
