package fleet

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

func newCA(t *testing.T, name string) *trust.CA {
	t.Helper()
	ca, err := trust.NewCA(trust.CAOptions{CommonName: name}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issuer(ca *trust.CA) rotation.IssueFunc {
	return func(c rotation.Consumer) ([]byte, []byte, error) {
		l, err := ca.IssueLeaf(trust.LeafOptions{
			CommonName: c.Name, DNSNames: []string{c.Name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			Usage: trust.UsageServer | trust.UsageClient,
		}, time.Now())
		if err != nil {
			return nil, nil, err
		}
		return l.ChainPEM, l.KeyPEM, nil
	}
}

func probeLeaf(t *testing.T, ca *trust.CA) tls.Certificate {
	t.Helper()
	l, err := ca.IssueLeaf(trust.LeafOptions{
		CommonName: "handover-verify", DNSNames: []string{"handover-verify"},
		Usage: trust.UsageServer | trust.UsageClient,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(l.ChainPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// samples records every sample.
type samples struct {
	mu  sync.Mutex
	all []probe.Sample
}

func (s *samples) Add(smp probe.Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, smp)
}

func (s *samples) since(t time.Time) (ok, failed int, classes map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	classes = map[string]int{}
	for _, smp := range s.all {
		if smp.Start.Before(t) {
			continue
		}
		if smp.OK() {
			ok++
		} else {
			failed++
			classes[smp.Class]++
		}
	}
	return ok, failed, classes
}

func startFleet(t *testing.T, cfg Config, ca *trust.CA) (*Fleet, *samples) {
	t.Helper()
	rec := &samples{}
	cfg.Dir = t.TempDir()
	cfg.Sink = rec
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	f, err := Start(t.Context(), cfg, ca.CertPEM, issuer(ca))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f, rec
}

func consumerNamed(t *testing.T, f *Fleet, name string) rotation.Consumer {
	t.Helper()
	cs, err := f.Consumers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no consumer %s", name)
	return rotation.Consumer{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartRejectsBadConfigAndStartsNothing(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "old")
	for _, cfg := range []Config{
		{Dir: "", Servers: 1},
		{Dir: t.TempDir(), Servers: 0},
		{Dir: t.TempDir(), Servers: 2, LoadOnceServers: 3},
		{Dir: t.TempDir(), Servers: 1, Replicas: 1},
		{Dir: t.TempDir(), Servers: 1, Propagation: -time.Second},
	} {
		if _, err := Start(t.Context(), cfg, ca.CertPEM, issuer(ca)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestSteadyFleetServesWithoutFailures(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "old")
	f, rec := startFleet(t, Config{Servers: 3, Clients: 2, LoadOnceServers: 1, Propagation: 200 * time.Millisecond}, ca)
	waitFor(t, "60 handshakes", func() bool { r, _ := f.Counts(); return r >= 60 })
	ok, failed, classes := rec.since(time.Time{})
	if failed != 0 || ok == 0 {
		t.Fatalf("steady fleet: ok=%d failed=%d %v", ok, failed, classes)
	}
	targets := map[string]bool{}
	rec.mu.Lock()
	for _, s := range rec.all {
		targets[s.Target] = true
	}
	rec.mu.Unlock()
	for _, want := range []string{"server-0", "server-1", "server-2"} {
		if !targets[want] {
			t.Errorf("no sample targeted %s (got %v)", want, targets)
		}
	}
}

// A load-once server keeps the CA it started with until a rolling restart,
// while a hot-reload server picks up the new bundle once its mount changes.
func TestLoadOnceServerNeedsRestartHotDoesNot(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, _ := startFleet(t, Config{Servers: 2, LoadOnceServers: 1, Propagation: 200 * time.Millisecond}, old)
	ctx := t.Context()
	loadOnce, hot := consumerNamed(t, f, "server-0"), consumerNamed(t, f, "server-1")
	if loadOnce.Reload != rotation.ReloadLoadOnce || loadOnce.Replicas != 2 || hot.Reload != rotation.ReloadHot {
		t.Fatalf("unexpected consumers %+v %+v", loadOnce, hot)
	}
	newProbe := probeLeaf(t, next)
	if err := f.VerifyAcceptsCA(ctx, hot, newProbe); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("hot server accepted a leaf of an untrusted CA: %v", err)
	}
	if err := f.PublishTrustBundle(ctx, append(append([]byte{}, next.CertPEM...), old.CertPEM...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hot server to accept the new CA", func() bool { return f.VerifyAcceptsCA(ctx, hot, newProbe) == nil })
	time.Sleep(300 * time.Millisecond) // every mount has changed by now (Propagation 200ms)
	if err := f.VerifyAcceptsCA(ctx, loadOnce, newProbe); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("load-once server accepted the new CA without a restart: %v", err)
	}
	if err := f.RollingRestart(ctx, loadOnce); err != nil {
		t.Fatal(err)
	}
	if err := f.VerifyAcceptsCA(ctx, loadOnce, newProbe); err != nil {
		t.Fatalf("load-once server after restart: %v", err)
	}
	if err := f.VerifyAcceptsCA(ctx, loadOnce, probeLeaf(t, old)); err != nil {
		t.Fatalf("load-once server after restart rejects the old CA still in its bundle: %v", err)
	}
}

// Clients must observe a server rejecting their leaf (TLS 1.3 sends the
// alert after the client's handshake completed).
func TestClientsObserveRejectedClientCertificate(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, rec := startFleet(t, Config{Servers: 1, Clients: 1, LoadOnceServers: 1}, old)
	ctx := t.Context()
	waitFor(t, "traffic", func() bool { r, _ := f.Counts(); return r >= 20 })
	// Clients trust both CAs (the server still presents an old leaf) but get
	// a new-CA leaf the load-once server does not trust.
	if err := f.PublishTrustBundle(ctx, append(append([]byte{}, next.CertPEM...), old.CertPEM...)); err != nil {
		t.Fatal(err)
	}
	if err := f.PublishLeaves(ctx, issuer(next)); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	waitFor(t, "failures", func() bool { _, failed, _ := rec.since(at); return failed >= 20 })
	// Go's server answers an unknown issuer with unknown_ca, others with
	// bad_certificate; either way the client saw the server's alert.
	_, _, classes := rec.since(at)
	for class := range classes {
		if class != probe.ClassBadCertificate && class != probe.ClassUnknownAuthority {
			t.Fatalf("rejections classed as %v, want TLS certificate alerts", classes)
		}
	}
}

// A rolling restart of a load-once replica set keeps the address serving:
// no probe attempt fails while every replica is replaced.
func TestRollingRestartKeepsServing(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "old")
	f, rec := startFleet(t, Config{Servers: 1, Clients: 2, LoadOnceServers: 1, Replicas: 2, Startup: 100 * time.Millisecond}, ca)
	ctx := t.Context()
	c := consumerNamed(t, f, "server-0")
	waitFor(t, "traffic", func() bool { r, _ := f.Counts(); return r >= 50 })
	at := time.Now()
	addrs := c.Addr
	probeCert := probeLeaf(t, ca)
	for range 5 {
		// Direct verification dials must not confuse the drain of the
		// replica being replaced (it counts what it must still accept).
		if err := f.VerifyAcceptsCA(ctx, c, probeCert); err != nil {
			t.Fatal(err)
		}
		if err := f.RollingRestart(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	ok, failed, classes := rec.since(at)
	if failed != 0 || ok == 0 {
		t.Fatalf("during rolling restarts: ok=%d failed=%d %v", ok, failed, classes)
	}
	if consumerNamed(t, f, "server-0").Addr != addrs {
		t.Fatal("service address changed across restarts")
	}
}

func TestFreezeStopsPropagation(t *testing.T) {
	t.Parallel()
	old, next := newCA(t, "old"), newCA(t, "new")
	f, _ := startFleet(t, Config{Servers: 2, Propagation: 50 * time.Millisecond}, old)
	ctx := t.Context()
	if err := f.Freeze("server-0"); err != nil {
		t.Fatal(err)
	}
	if err := f.Freeze("nope"); !errors.Is(err, ErrUnknownConsumer) {
		t.Fatalf("Freeze(nope) = %v", err)
	}
	if err := f.PublishTrustBundle(ctx, next.CertPEM); err != nil {
		t.Fatal(err)
	}
	newProbe := probeLeaf(t, next)
	waitFor(t, "server-1 to accept", func() bool { return f.VerifyAcceptsCA(ctx, consumerNamed(t, f, "server-1"), newProbe) == nil })
	time.Sleep(100 * time.Millisecond)
	if err := f.VerifyAcceptsCA(ctx, consumerNamed(t, f, "server-0"), newProbe); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("frozen server-0 picked up the new bundle: %v", err)
	}
}
