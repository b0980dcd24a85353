package probe

import "context"

// Func adapts a function to Probe, for ad-hoc probes and for tests of the
// code that consumes samples:
//
//	probe.Func{N: "etcd-get", F: func(ctx context.Context) error { _, err := cli.Get(ctx, "k"); return err }}
//
// F must honour ctx and be safe for concurrent use when the Runner has more
// than one worker. A nil F always succeeds.
type Func struct {
	N string
	F func(ctx context.Context) error
}

// Name returns N.
func (f Func) Name() string { return f.N }

// Once calls F(ctx).
func (f Func) Once(ctx context.Context) error {
	if f.F == nil {
		return nil
	}
	return f.F(ctx)
}
