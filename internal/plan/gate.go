package plan

import (
	"context"
	"fmt"
	"time"
)

type appliedAtKey struct{}

func withAppliedAt(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, appliedAtKey{}, t)
}

// AppliedAt returns, inside Step.Check, when the runner first saw the step's
// Apply succeed in this plan run (StepState.AppliedAt, persisted in the
// checkpoint, so it survives a restart). Inside Step.Apply it is set only
// when a resumed run applies again a step whose Apply already succeeded (a
// step whose Apply is not free to repeat, e.g. issuing new keys, may skip
// it then). ok is false otherwise.
func AppliedAt(ctx context.Context) (t time.Time, ok bool) {
	t, ok = ctx.Value(appliedAtKey{}).(time.Time)
	return t, ok && !t.IsZero()
}

// Elapsed is the gate of a wait that started at since (the step's persisted
// AppliedAt): Done once now is at or after since+d, else NotYet
// "waiting for <what>: 23s left (until 2026-11-29T15:04:05Z)" (seconds
// rounded up). d <= 0 is Done. A zero since (no start recorded, e.g. a
// Check called outside a Runner) is NotYet: a wait that counted from now
// would restart on every call. It is pure.
func Elapsed(now, since time.Time, d time.Duration, what string) Result {
	if d <= 0 {
		return Done()
	}
	if since.IsZero() {
		return NotYet(fmt.Sprintf("waiting for %s: its start is not recorded", what))
	}
	until := since.Add(d)
	if !now.Before(until) {
		return Done()
	}
	return NotYet(fmt.Sprintf("waiting for %s until %s (%s after %s)", what,
		until.UTC().Format(time.RFC3339), d, since.UTC().Format(time.RFC3339)))
}
