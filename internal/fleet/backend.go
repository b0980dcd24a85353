package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/handover-dev/handover/internal/rotation"
)

var _ rotation.Backend = (*Fleet)(nil)

// Consumers lists servers (server-0..) then clients (client-0..).
func (f *Fleet) Consumers(context.Context) ([]rotation.Consumer, error) {
	out := make([]rotation.Consumer, 0, len(f.consumers))
	for _, c := range f.consumers {
		out = append(out, c.public(len(c.pods)))
	}
	return out, nil
}

func (f *Fleet) lookup(c rotation.Consumer) (*consumer, error) {
	fc, ok := f.byName[c.Name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownConsumer, c.Name)
	}
	return fc, nil
}

// PublishTrustBundle sets ca.crt of every consumer's secret to bundlePEM
// and schedules the per-pod propagation; it returns before any pod sees it.
// A bundle with no parsable certificate returns ErrInvalidPayload and
// changes nothing.
func (f *Fleet) PublishTrustBundle(_ context.Context, bundlePEM []byte) error {
	if !x509.NewCertPool().AppendCertsFromPEM(bundlePEM) {
		return fmt.Errorf("%w: trust bundle has no certificate", ErrInvalidPayload)
	}
	for _, c := range f.consumers {
		c.secret.update(map[string][]byte{FileCA: bundlePEM})
		if err := f.propagate(c); err != nil {
			return err
		}
	}
	return nil
}

// PublishLeaves sets tls.crt/tls.key of every consumer's secret to what
// issue returns for it and schedules propagation. Every leaf is issued and
// checked (certificate matches key) before any secret changes; an error
// changes nothing.
func (f *Fleet) PublishLeaves(_ context.Context, issue rotation.IssueFunc) error {
	type leaf struct{ cert, key []byte }
	leaves := make([]leaf, len(f.consumers))
	for i, c := range f.consumers {
		certPEM, keyPEM, err := issue(c.public(len(c.pods)))
		if err != nil {
			return fmt.Errorf("issue leaf for %s: %w", c.name, err)
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return fmt.Errorf("leaf for %s: %w", c.name, err)
		}
		leaves[i] = leaf{certPEM, keyPEM}
	}
	for i, c := range f.consumers {
		c.secret.update(map[string][]byte{FileCert: leaves[i].cert, FileKey: leaves[i].key})
		if err := f.propagate(c); err != nil {
			return err
		}
	}
	return nil
}

// RollingRestart replaces every replica of a server one at a time (surge
// first, each replacement ready after Config.Startup), or restarts a
// client after Config.Startup. Like a new pod in Kubernetes, a replacement
// mounts the current content of its secret (the kubelet writes a new
// pod's volume before its containers start), unless the consumer is
// frozen (Freeze: its mount never updates).
func (f *Fleet) RollingRestart(ctx context.Context, c rotation.Consumer) error {
	fc, err := f.lookup(c)
	if err != nil {
		return err
	}
	startup := func(ctx context.Context) error { return f.sleep(ctx, f.cfg.Startup) }
	mount := func(p *pod) error { return f.mountCurrent(fc, p) }
	if fc.srv != nil {
		return fc.srv.rollingRestart(ctx, mount, startup)
	}
	return fc.cli.restart(ctx, mount, startup)
}

func (f *Fleet) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	return sleepCtx(ctx, f.clk, d)
}
