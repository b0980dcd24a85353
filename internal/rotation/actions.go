package rotation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
)

// publishLeaves writes leaves from the new CA to every consumer.
func (r *Rotation) publishLeaves(ctx context.Context) error {
	if err := r.spec.Backend.PublishLeaves(ctx, Issuer(r.spec.New, r.spec.Clock.Now)); err != nil {
		return fmt.Errorf("publish leaves: %w", err)
	}
	return nil
}

// restartLoadOnce rolls every load-once consumer for which need says so,
// one consumer at a time, and adds the time spent to RestartTime.
func (r *Rotation) restartLoadOnce(ctx context.Context, need func(context.Context, Consumer) bool) error {
	cs, err := r.spec.Backend.Consumers(ctx)
	if err != nil {
		return fmt.Errorf("list consumers: %w", err)
	}
	for _, c := range cs {
		if c.Reload != ReloadLoadOnce || !need(ctx, c) {
			continue
		}
		start := r.spec.Clock.Now()
		err := r.spec.Backend.RollingRestart(ctx, c)
		r.mu.Lock()
		r.restartTime += r.spec.Clock.Since(start)
		r.mu.Unlock()
		if err != nil {
			return fmt.Errorf("rolling restart %s: %w", c.Name, err)
		}
	}
	return nil
}

// maxParallelVerify bounds the verifications in flight: one gate handshakes
// with every pod, and a busy fleet makes each handshake slow.
const maxParallelVerify = 8

// restartUntilConverged rolls the load-once consumers that need it, then
// checks them again: a replacement starts with whatever its mount holds, so
// one whose mount lagged still needs it. It returns ErrNotConverged naming
// them (the engine retries Apply with backoff until the step timeout, and the
// retry restarts only those).
func (r *Rotation) restartUntilConverged(ctx context.Context, what string, need func(context.Context, Consumer) bool) error {
	if err := r.restartLoadOnce(ctx, need); err != nil {
		return err
	}
	cs, err := r.spec.Backend.Consumers(ctx)
	if err != nil {
		return fmt.Errorf("list consumers: %w", err)
	}
	var still []string
	for _, c := range cs {
		if c.Reload == ReloadLoadOnce && need(ctx, c) {
			still = append(still, c.Name)
		}
	}
	if len(still) > 0 {
		return fmt.Errorf("%w: consumers that still %s after a restart: %s", ErrNotConverged, what, strings.Join(still, ", "))
	}
	return nil
}

// verdicts runs verify against every consumer (filtered by keep, nil = all),
// up to maxParallelVerify at a time, and returns the verdicts in the
// backend's consumer order plus how many consumers the backend listed before
// filtering.
func (r *Rotation) verdicts(ctx context.Context, keep func(Consumer) bool, verify func(context.Context, Consumer) error) ([]Verdict, int, error) {
	cs, err := r.spec.Backend.Consumers(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list consumers: %w", err)
	}
	var picked []Consumer
	for _, c := range cs {
		if keep == nil || keep(c) {
			picked = append(picked, c)
		}
	}
	out := make([]Verdict, len(picked))
	var g errgroup.Group
	g.SetLimit(maxParallelVerify)
	for i, c := range picked {
		g.Go(func() error {
			v := Verdict{Consumer: c.Name, OK: true}
			if err := verify(ctx, c); err != nil {
				v.OK, v.Reason = false, reasonOf(err)
			}
			out[i] = v
			return nil
		})
	}
	_ = g.Wait()
	return out, len(cs), nil
}

// gate verifies the consumers keep selects. A backend that lists no
// consumer at all fails the gate (Gate); a filter that leaves none passes it,
// since this step has nothing to verify (e.g. no hot-reload consumer in the
// first staged step: load-once consumers are verified after their restart).
func (r *Rotation) gate(ctx context.Context, what string, keep func(Consumer) bool, verify func(context.Context, Consumer) error) plan.Result {
	vs, listed, err := r.verdicts(ctx, keep, verify)
	if err != nil {
		return plan.NotYet(err.Error())
	}
	if listed > 0 && len(vs) == 0 {
		return plan.Done()
	}
	return Gate(what, vs)
}

func (r *Rotation) accepts(probe tls.Certificate) func(context.Context, Consumer) error {
	return func(ctx context.Context, c Consumer) error {
		return r.spec.Backend.VerifyAcceptsCA(ctx, c, probe)
	}
}

func (r *Rotation) presents(roots *x509.CertPool, probe tls.Certificate) func(context.Context, Consumer) error {
	return func(ctx context.Context, c Consumer) error {
		return r.spec.Backend.VerifyPresentsLeafFrom(ctx, c, roots, probe)
	}
}

// rejects passes when the consumer rejected probe (ErrRejected); any other
// outcome, including a transient error, is "not yet".
func (r *Rotation) rejects(probe tls.Certificate) func(context.Context, Consumer) error {
	return func(ctx context.Context, c Consumer) error {
		err := r.spec.Backend.VerifyAcceptsCA(ctx, c, probe)
		switch {
		case errors.Is(err, ErrRejected):
			return nil
		case err == nil:
			return errors.New("still accepts the previous CA")
		}
		return err
	}
}

// reasonOf is a verification error as a gate reason, prefixed with its
// probe class (dial, dns, tls, timeout, ... see probe.Classify) so a stuck
// gate says whether the consumer was unreachable or refused the CA. A
// deliberate rejection (ErrRejected) keeps its own message.
func reasonOf(err error) string {
	if errors.Is(err, ErrRejected) {
		return err.Error()
	}
	return probe.Classify(err) + ": " + err.Error()
}

func isHot(c Consumer) bool { return c.Reload != ReloadLoadOnce }
