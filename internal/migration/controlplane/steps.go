package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/handover-dev/handover/internal/plan"
)

// --- preflight ---

type preflightStep struct{ c *Config }

func (s *preflightStep) Name() string                 { return "apiserver/preflight" }
func (s *preflightStep) Apply(context.Context) error  { return nil }
func (s *preflightStep) Revert(context.Context) error { return nil }
func (s *preflightStep) Describe() string {
	d := fmt.Sprintf("gate: the source apiserver Ready and serving a certificate for %q; the target's certificate carries it too; the record points at the source with TTL ≤ %s; site RTT ≤ %s; target version within one minor of the source",
		s.c.Endpoint.Name, s.c.MaxTTL, s.c.MaxSiteRTT)
	if s.c.WriteHold != nil {
		d += "; the source apiserver calls the write-hold webhook (registered for a dry-run check, then deleted)"
	}
	return d
}
func (s *preflightStep) Check(ctx context.Context) plan.Result {
	c := s.c
	var reasons []string
	if err := c.Endpoint.Ready(ctx, c.Source.Addr); err != nil {
		return plan.NotYet("source apiserver: " + err.Error())
	}
	if err := c.Endpoint.ServesName(ctx, c.Source.Addr); err != nil {
		reasons = append(reasons, err.Error())
	}
	if err := CertHasName(c.Target.CertFile, c.Endpoint.Name); err != nil {
		reasons = append(reasons, err.Error())
	}
	e, err := c.DNS.Get(ctx)
	if err != nil {
		return plan.NotYet("dns: " + err.Error())
	}
	c.Stats.DNSTTL = e.TTL
	if !e.Same(c.addrs(c.Source.Addr)) && !e.Same(c.addrs(c.Target.Addr)) {
		reasons = append(reasons, fmt.Sprintf("record %s points at neither the source %s nor the target %s", e, c.Source.Addr, c.Target.Addr))
	}
	if r := CheckTTL(e.TTL, c.MaxTTL); r != "" {
		reasons = append(reasons, r)
	}
	if r := CheckRTT(c.SiteRTT, c.MaxSiteRTT); r != "" {
		reasons = append(reasons, r)
	}
	sv, err := c.Endpoint.Version(c.Source.Addr)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	tv, err := c.TargetProvisioner.Version(ctx)
	if err != nil {
		reasons = append(reasons, "target apiserver version: "+err.Error())
	}
	if r := CheckSkew(sv, tv); r != "" {
		reasons = append(reasons, r)
	}
	if c.WriteHold != nil {
		if err := c.holdReachable(ctx); err != nil {
			reasons = append(reasons, err.Error())
		}
	}
	if len(reasons) > 0 {
		return plan.Failed(strings.Join(reasons, "; "))
	}
	return plan.Done()
}

// --- start target ---

type startTargetStep struct{ c *Config }

func (s *startTargetStep) Name() string           { return "apiserver/start-target" }
func (s *startTargetStep) Timeout() time.Duration { return s.c.TargetReadyTimeout }
func (s *startTargetStep) Describe() string {
	return fmt.Sprintf("start kube-apiserver %q (%s provisioner) on %s with --etcd-servers=%s; gate: /readyz 200 and a LIST of every served resource through it; revert: stop it",
		s.c.Target.Name, s.c.TargetProvisioner.Kind(), s.c.Target.URL(), strings.Join(s.c.Target.EtcdServers, ","))
}
func (s *startTargetStep) Apply(ctx context.Context) error {
	return s.c.TargetProvisioner.Start(ctx, s.c.Target)
}
func (s *startTargetStep) Check(ctx context.Context) plan.Result {
	if err := s.c.Endpoint.Ready(ctx, s.c.Target.Addr); err != nil {
		return plan.NotYet("target apiserver: " + err.Error())
	}
	n, err := s.c.Endpoint.ListAll(ctx, s.c.Target.Addr)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	s.c.Stats.ResourcesListed = n
	return plan.Done()
}
func (s *startTargetStep) Revert(ctx context.Context) error {
	return s.c.TargetProvisioner.Stop(ctx, s.c.Target)
}

// --- switch DNS ---

type switchDNSStep struct {
	c  *Config
	mu sync.Mutex
	at time.Time
}

func (s *switchDNSStep) Name() string { return "dns/switch" }
func (s *switchDNSStep) Describe() string {
	return fmt.Sprintf("set %s to the target %s (%s record); revert: back to the source %s", s.c.Endpoint.Name, s.c.Target.Addr, s.c.DNS.Kind(), s.c.Source.Addr)
}
func (s *switchDNSStep) Apply(ctx context.Context) error {
	if err := s.c.DNS.Set(ctx, s.c.addrs(s.c.Target.Addr)); err != nil {
		return err
	}
	s.mu.Lock()
	if s.at.IsZero() {
		s.at = s.c.Clock.Now()
	}
	s.mu.Unlock()
	return nil
}
func (s *switchDNSStep) Check(ctx context.Context) plan.Result {
	e, err := s.c.DNS.Get(ctx)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	if !e.Same(s.c.addrs(s.c.Target.Addr)) {
		return plan.NotYet("record is " + e.String())
	}
	return plan.Done()
}
func (s *switchDNSStep) Revert(ctx context.Context) error {
	return s.c.DNS.Set(ctx, s.c.addrs(s.c.Source.Addr))
}

// switchedAt is when this run switched the record (zero after a resume:
// the drain then waits its full length again).
func (s *switchDNSStep) switchedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at
}

// --- drain ---

type drainStep struct {
	c     *Config
	sw    *switchDNSStep
	mu    sync.Mutex
	since time.Time
}

func (s *drainStep) Name() string { return "apiserver/drain" }
func (s *drainStep) wait(ctx context.Context) time.Duration {
	if s.c.DrainWait != 0 {
		return max(s.c.DrainWait, 0)
	}
	ttl := s.c.Stats.DNSTTL
	if e, err := s.c.DNS.Get(ctx); err == nil {
		ttl = e.TTL
	}
	return DrainWait(ttl)
}
func (s *drainStep) Timeout() time.Duration {
	return max(s.c.DrainWait, DrainWait(s.c.MaxTTL)) + time.Minute
}
func (s *drainStep) Describe() string {
	if s.c.DrainWait < 0 {
		return "no drain (baseline: the source apiserver is stopped right after the DNS switch)"
	}
	return "gate: the source apiserver answers /readyz 200 on every poll for 2·TTL+1 after the switch, so every cached answer expired while it still served; a poll that finds it not Ready fails the gate (rollback)"
}
func (s *drainStep) Apply(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.since = s.sw.switchedAt()
	if s.since.IsZero() {
		s.since = s.c.Clock.Now()
	}
	return nil
}
func (s *drainStep) Check(ctx context.Context) plan.Result {
	if s.c.DrainWait < 0 {
		return plan.Done()
	}
	if err := s.c.Endpoint.Ready(ctx, s.c.Source.Addr); err != nil {
		return plan.Failed("source apiserver not Ready during the drain: " + err.Error())
	}
	s.mu.Lock()
	since := s.since
	s.mu.Unlock()
	want := s.wait(ctx)
	if el := s.c.Clock.Since(since); el < want {
		return plan.NotYet(fmt.Sprintf("source kept Ready %s of %s (%d%%)", el.Round(100*time.Millisecond), want, int(100*el/want)))
	}
	return plan.Done()
}
func (s *drainStep) Revert(context.Context) error { return nil }

// --- stop source ---

type stopSourceStep struct {
	c  *Config
	sw *switchDNSStep
}

func (s *stopSourceStep) Name() string { return "apiserver/stop-source" }
func (s *stopSourceStep) Timeout() time.Duration {
	return s.c.Source.StopGrace() + time.Minute
}
func (s *stopSourceStep) Describe() string {
	return fmt.Sprintf("stop kube-apiserver %q gracefully (shutdown delay %s, 429 Retry-After %v, watch grace %s; it exits once in-flight requests drained); gate: nothing answers at %s; revert: start it again and wait for /readyz",
		s.c.Source.Name, s.c.Source.ShutdownDelay, s.c.Source.SendRetryAfter, s.c.Source.WatchGrace, s.c.Source.URL())
}
func (s *stopSourceStep) Apply(ctx context.Context) error {
	if err := s.c.SourceProvisioner.Stop(ctx, s.c.Source); err != nil {
		return err
	}
	if at := s.sw.switchedAt(); !at.IsZero() {
		s.c.Stats.Drain = s.c.Clock.Since(at)
	}
	return nil
}
func (s *stopSourceStep) Check(ctx context.Context) plan.Result {
	err := s.c.Endpoint.Ready(ctx, s.c.Source.Addr)
	if err == nil || errors.Is(err, ErrNotReady) {
		return plan.NotYet("the source apiserver still answers")
	}
	return plan.Done()
}
func (s *stopSourceStep) Revert(ctx context.Context) error {
	if err := s.c.SourceProvisioner.Start(ctx, s.c.Source); err != nil {
		return err
	}
	deadline := s.c.Clock.Now().Add(2 * time.Minute)
	for {
		err := s.c.Endpoint.Ready(ctx, s.c.Source.Addr)
		if err == nil {
			return nil
		}
		if s.c.Clock.Now().After(deadline) {
			return fmt.Errorf("restarted source apiserver: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.Clock.After(200 * time.Millisecond):
		}
	}
}

// --- final verify ---

type verifyStep struct{ c *Config }

func (s *verifyStep) Name() string                 { return "apiserver/verify-final" }
func (s *verifyStep) Apply(context.Context) error  { return nil }
func (s *verifyStep) Revert(context.Context) error { return nil }
func (s *verifyStep) Describe() string {
	return "gate: the record points at the target, which answers /readyz and LISTs every served resource on the remaining members"
}
func (s *verifyStep) Check(ctx context.Context) plan.Result {
	e, err := s.c.DNS.Get(ctx)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	if !e.Same(s.c.addrs(s.c.Target.Addr)) {
		return plan.Failed("record is " + e.String())
	}
	if err := s.c.Endpoint.Ready(ctx, s.c.Target.Addr); err != nil {
		return plan.NotYet(err.Error())
	}
	if _, err := s.c.Endpoint.ListAll(ctx, s.c.Target.Addr); err != nil {
		return plan.NotYet(err.Error())
	}
	return plan.Done()
}
