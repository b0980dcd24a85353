package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// waitSink collects samples and lets a test wait for the n-th one.
type waitSink struct {
	mu      sync.Mutex
	samples []Sample
	next    Sink // optional: forwards every sample
	grew    chan struct{}
}

func newWaitSink(next Sink) *waitSink { return &waitSink{next: next, grew: make(chan struct{}, 1)} }

func (s *waitSink) Add(x Sample) {
	s.mu.Lock()
	s.samples = append(s.samples, x)
	s.mu.Unlock()
	if s.next != nil {
		s.next.Add(x)
	}
	select {
	case s.grew <- struct{}{}:
	default:
	}
}

func (s *waitSink) snapshot() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// waitFor blocks until pred holds over the samples, failing the test after 20s.
func (s *waitSink) waitFor(t *testing.T, what string, pred func([]Sample) bool) {
	t.Helper()
	if err := s.await(what, pred); err != nil {
		t.Fatal(err)
	}
}

// await is waitFor for goroutines other than the test's: it returns an error.
func (s *waitSink) await(what string, pred func([]Sample) bool) error {
	deadline := time.After(20 * time.Second)
	for !pred(s.snapshot()) {
		select {
		case <-s.grew:
		case <-deadline:
			return fmt.Errorf("timed out waiting for %s (%d samples so far)", what, len(s.snapshot()))
		}
	}
	return nil
}

func atLeast(n int) func([]Sample) bool { return func(s []Sample) bool { return len(s) >= n } }

// runInBackground starts r.Run and returns a stop func that cancels it and
// returns Run's error.
func runInBackground(r *Runner) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	return sync.OnceValue(func() error { cancel(); return <-errc })
}

func TestRunnerValidates(t *testing.T) {
	t.Parallel()
	p, sink := Func{N: "x"}, newWaitSink(nil)
	tests := []struct {
		name  string
		r     Runner
		field string
	}{
		{"no probe", Runner{Sink: sink}, "Runner.Probe"},
		{"no sink", Runner{Probe: p}, "Runner.Sink"},
		{"negative rate", Runner{Probe: p, Sink: sink, Rate: -1}, "Runner.Rate"},
		{"negative concurrency", Runner{Probe: p, Sink: sink, Concurrency: -1}, "Runner.Concurrency"},
		{"negative timeout", Runner{Probe: p, Sink: sink, Timeout: -time.Second}, "Runner.Timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.r.Run(context.Background())
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Run() = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
	if n := len(sink.snapshot()); n != 0 {
		t.Fatalf("invalid runners produced %d samples", n)
	}
}

// The Runner drives a real mTLS probe against a real server at a modest
// rate into a Recorder.
func TestRunnerCollectsMTLSSamplesIntoRecorder(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	srv := startTLSServer(t, mtlsServerConfig(k.serverA, k.a, 0), nil)
	rec := NewRecorder(nil)
	sink := newWaitSink(rec)
	const rate, workers = 100.0, 2
	r := &Runner{
		Probe:  &MTLS{Addr: srv.addr, GetClientCertificate: fixedCert(k.clientA), GetRootCAs: fixedRoots(k.a)},
		Target: "server-1", Rate: rate, Concurrency: workers, Sink: sink,
	}
	began := time.Now()
	stop := runInBackground(r)
	sink.waitFor(t, "20 samples", atLeast(20))
	if err := stop(); err != nil {
		t.Fatalf("Run() = %v, want nil after cancel", err)
	}
	elapsed := time.Since(began)

	samples := sink.snapshot()
	for _, s := range samples {
		if !s.OK() || s.Probe != "mtls" || s.Target != "server-1" || s.Start.IsZero() || s.Latency <= 0 {
			t.Fatalf("unexpected sample %+v", s)
		}
	}
	// The rate is a ceiling (a ticker, no catch-up bursts).
	if ceiling := int(rate*elapsed.Seconds()) + workers + 1; len(samples) > ceiling {
		t.Fatalf("%d samples in %v exceeds rate %v/s (ceiling %d)", len(samples), elapsed, rate, ceiling)
	}
	sum := rec.Summary()
	if sum.Requests != int64(len(samples)) || sum.Failures != 0 || sum.Latency.P50 <= 0 || sum.Latency.Max < sum.Latency.P99 {
		t.Fatalf("summary = %+v for %d successful samples", sum, len(samples))
	}
}

func TestRunnerStampsSamplesWithInjectedClock(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakePassiveClock(t0)
	sink := newWaitSink(nil)
	stop := runInBackground(&Runner{Probe: Func{N: "fn"}, Clock: clk, Sink: sink, Rate: 1000})
	sink.waitFor(t, "3 samples", atLeast(3))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range sink.snapshot() {
		if !s.Start.Equal(t0) || s.Latency != 0 || s.Probe != "fn" {
			t.Fatalf("sample %+v not stamped by the fake clock at %v", s, t0)
		}
	}
}

func TestRunnerTimesOutEachAttempt(t *testing.T) {
	t.Parallel()
	block := Func{N: "block", F: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	sink := newWaitSink(nil)
	stop := runInBackground(&Runner{Probe: block, Sink: sink, Timeout: 10 * time.Millisecond, Concurrency: 2})
	sink.waitFor(t, "3 samples", atLeast(3))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, s := range sink.snapshot() {
		if s.OK() || s.Class != ClassTimeout {
			t.Fatalf("sample %+v, want a timeout", s)
		}
	}
}

// Cancelling the run interrupts the attempts in flight; they are not
// recorded as failures.
func TestRunnerDropsAttemptsCutByShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 8)
	block := Func{N: "block", F: func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}}
	sink := newWaitSink(nil)
	stop := runInBackground(&Runner{Probe: block, Sink: sink, Timeout: time.Hour, Concurrency: 3})
	for range 3 {
		<-started
	}
	if err := stop(); err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	if n := len(sink.snapshot()); n != 0 {
		t.Fatalf("recorded %d samples from attempts cut by shutdown, want 0", n)
	}
}
