package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/handover-dev/handover/internal/plan"
)

// holdSettle is how long the hold must have been in effect before the
// transfer: a write admitted just before reaches etcd within a few round
// trips between the sites.
func holdSettle(siteRTT time.Duration) time.Duration {
	return 250*time.Millisecond + 4*siteRTT
}

// holdClock is shared by the hold and release steps (the release step
// measures the hold).
type holdClock struct {
	mu          sync.Mutex
	start       time.Time // this run's hold (zero after a resume)
	effectiveAt time.Time // first poll that saw the apiserver call the hold
}

// --- hold writes ---

type holdWritesStep struct {
	c  *Config
	hc *holdClock
}

func (s *holdWritesStep) Name() string           { return "apiserver/hold-writes" }
func (s *holdWritesStep) Timeout() time.Duration { return time.Minute }
func (s *holdWritesStep) Describe() string {
	return fmt.Sprintf("register validating webhook %q (handover's write hold, failurePolicy Ignore) for every create, update and delete: the apiservers wait for its answer, which comes once the leader moved (at most %s); gate: the apiserver calls it, %s passed and no proposal is pending on any etcd member, so the leader transfer drops none (raft drops proposals during a transfer, kube-apiserver turns that into a 500); revert: release and delete it",
		WriteHoldWebhook, DefaultMaxHold, holdSettle(s.c.SiteRTT))
}
func (s *holdWritesStep) Apply(ctx context.Context) error {
	s.hc.mu.Lock()
	if s.hc.start.IsZero() {
		s.hc.start = s.c.Clock.Now()
	}
	s.hc.effectiveAt = time.Time{}
	s.hc.mu.Unlock()
	s.c.WriteHold.Hold()
	cs, err := kubernetes.NewForConfig(s.c.Endpoint.At(s.c.Target.Addr))
	if err != nil {
		return err
	}
	return s.c.WriteHold.Install(ctx, cs)
}
func (s *holdWritesStep) Check(ctx context.Context) plan.Result {
	if err := SendHoldCheck(ctx, s.c.Endpoint.At(s.c.Target.Addr)); err != nil {
		return plan.NotYet(err.Error())
	}
	if ch, checks, _ := s.c.WriteHold.state(); ch == nil {
		// A restarted process holds nothing until Apply runs again.
		return plan.Failed("the write hold is not holding (handover restarted during the step)")
	} else if checks == 0 {
		return plan.NotYet("the target apiserver does not call the write hold yet")
	}
	now := s.c.Clock.Now()
	s.hc.mu.Lock()
	if s.hc.effectiveAt.IsZero() {
		s.hc.effectiveAt = now
	}
	since := now.Sub(s.hc.effectiveAt)
	s.hc.mu.Unlock()
	if want := holdSettle(s.c.SiteRTT); since < want {
		return plan.NotYet(fmt.Sprintf("writes held for %s of %s", since.Round(10*time.Millisecond), want))
	}
	if r := s.pending(ctx); r != "" {
		return plan.NotYet(r)
	}
	return plan.Done()
}

// pending returns "" when no etcd member has a proposal pending, else why
// not.
func (s *holdWritesStep) pending(ctx context.Context) string {
	cl := s.c.Etcd.Cluster
	ms, err := cl.Members(ctx)
	if err != nil {
		return err.Error()
	}
	for _, m := range ms {
		if len(m.ClientURLs) == 0 {
			continue
		}
		got, err := cl.Metrics(ctx, m.ClientURLs[0], "etcd_server_proposals_pending")
		if err != nil {
			return fmt.Sprintf("member %s: %v", m.Name, err)
		}
		if n := got["etcd_server_proposals_pending"]; n > 0 {
			return fmt.Sprintf("member %s has %.0f proposals pending", m.Name, n)
		}
	}
	return ""
}

func (s *holdWritesStep) Revert(ctx context.Context) error {
	s.c.WriteHold.Release()
	return uninstallAnywhere(ctx, s.c)
}

// uninstallAnywhere deletes the hold's configuration through whichever
// apiserver answers (target first: the source is stopped when the hold is
// made).
func uninstallAnywhere(ctx context.Context, c *Config) error {
	var errs []error
	for _, a := range []netip.Addr{c.Target.Addr, c.Source.Addr} {
		cs, err := kubernetes.NewForConfig(c.Endpoint.At(a))
		if err == nil {
			err = UninstallWriteHold(ctx, cs)
		}
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// --- release writes ---

type releaseWritesStep struct {
	c  *Config
	hc *holdClock
}

func (s *releaseWritesStep) Name() string { return "apiserver/release-writes" }
func (s *releaseWritesStep) Describe() string {
	return fmt.Sprintf("release the held writes (they reach the new leader) and delete webhook %q; gate: it is gone", WriteHoldWebhook)
}
func (s *releaseWritesStep) Apply(ctx context.Context) error {
	s.c.WriteHold.Release()
	s.hc.mu.Lock()
	if !s.hc.start.IsZero() {
		s.c.Stats.WriteHold = s.c.Clock.Since(s.hc.start)
	}
	s.hc.mu.Unlock()
	s.c.Stats.HeldWrites = s.c.WriteHold.Held()
	return uninstallAnywhere(ctx, s.c)
}
func (s *releaseWritesStep) Check(context.Context) plan.Result { return plan.Done() }

// Revert does nothing: the hold step's revert deletes the configuration.
func (s *releaseWritesStep) Revert(context.Context) error { return nil }

// --- the transfer under the hold ---

// heldStep is the leader move: a run resumed after the hold step was done
// holds nothing (the hold lives in the killed process), so its Apply first
// holds again and waits for the hold's gate, then applies the move.
// Check, Revert, Describe and Timeout are the move's.
type heldStep struct {
	plan.Step
	hold *holdWritesStep
}

func (h *heldStep) Apply(ctx context.Context) error {
	if ch, _, _ := h.hold.c.WriteHold.state(); ch == nil {
		if err := h.hold.Apply(ctx); err != nil {
			return err
		}
		for {
			r := h.hold.Check(ctx)
			if r.State == plan.CheckDone {
				break
			}
			if r.State == plan.CheckFailed {
				return errors.New("write hold: " + r.Reason)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-h.hold.c.Clock.After(100 * time.Millisecond):
			}
		}
	}
	return h.Step.Apply(ctx)
}

func (h *heldStep) Describe() string {
	d := ""
	if ds, ok := h.Step.(plan.Describer); ok {
		d = ds.Describe()
	}
	return d + " (under the write hold; a resumed run holds again first)"
}

func (h *heldStep) Timeout() time.Duration {
	if t, ok := h.Step.(plan.Timeouter); ok {
		return t.Timeout()
	}
	return 0
}

// holdReachable is the preflight's write-hold check, through the source
// apiserver (it must reach the webhook too while it serves).
func (c *Config) holdReachable(ctx context.Context) error {
	rc := c.Endpoint.At(c.Source.Addr)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	return c.WriteHold.Reachable(ctx, cs, rc, 20*time.Second)
}
