package tlsloop_test

import (
	"net"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/handover-dev/handover/internal/tlsloop"
)

func TestServerAnswersOnlyTrustedClients(t *testing.T) {
	t.Parallel()
	p, other := newPKI(t, "p"), newPKI(t, "other")
	s := startServer(t, mustParse(t, p.snapshot).Server)

	leaf, line, err := dialRoundTrip(s.Addr(), p.clientConfig())
	if err != nil {
		t.Fatalf("trusted client: %v", err)
	}
	if line != tlsloop.Response || leaf.Subject.CommonName != "server" {
		t.Fatalf("trusted client got %q from %q, want %q from server", line, leaf.Subject.CommonName, tlsloop.Response)
	}

	// A client leaf from another CA completes its side of the TLS 1.3
	// handshake but never gets Response (RFC 8446 §4.4.2).
	cfg := other.clientConfig()
	cfg.RootCAs = p.clientConfig().RootCAs
	if _, line, err := dialRoundTrip(s.Addr(), cfg); err == nil {
		t.Fatalf("client of another CA got %q, want a rejection", line)
	}
	if got := s.Accepted(); got != 2 {
		t.Fatalf("Accepted() = %d, want 2", got)
	}
}

// sleepSignal is the real clock, reporting each Sleep on a channel.
type sleepSignal struct {
	clock.RealClock
	slept chan struct{}
}

func (c sleepSignal) Sleep(d time.Duration) {
	select {
	case c.slept <- struct{}{}:
	default:
	}
	c.RealClock.Sleep(d)
}

func TestServerStopDrainsExpectedAndInFlight(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "p")
	clk := sleepSignal{slept: make(chan struct{}, 1)}
	s := startServer(t, mustParse(t, p.snapshot).Server, tlsloop.WithClock(clk))

	// An in-flight connection: accepted before Stop, served after.
	inflight, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	s.CountDirect()
	// One more expected direct connection, not dialed yet.
	s.CountDirect()

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s.Stop(0, time.Minute)
	}()
	select {
	case <-clk.slept: // Stop is waiting for the second connection
	case <-stopped:
		t.Fatal("Stop returned before the expected connections were accepted")
	}
	// The listener must still be open: the expected connection is served.
	if _, line, err := dialRoundTrip(s.Addr(), p.clientConfig()); err != nil || line != tlsloop.Response {
		t.Fatalf("expected connection during drain: %q, %v", line, err)
	}
	if _, line, err := roundTrip(inflight, p.clientConfig()); err != nil || line != tlsloop.Response {
		t.Fatalf("in-flight connection during stop: %q, %v", line, err)
	}
	<-stopped
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		_ = c.Close()
		t.Fatal("stopped server still accepts connections")
	}
}

func TestServerStopGivesUpAfterDrainWait(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "p")
	start := time.Now()
	clk := clocktesting.NewFakeClock(start)
	s := startServer(t, mustParse(t, p.snapshot).Server, tlsloop.WithClock(clk))
	s.CountDirect() // never dialed

	s.Stop(3, time.Second)
	if waited := clk.Since(start); waited < time.Second {
		t.Fatalf("Stop waited %v on the clock, want the full drainWait of 1s", waited)
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		_ = c.Close()
		t.Fatal("stopped server still accepts connections")
	}
}
