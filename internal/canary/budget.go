package canary

import (
	"fmt"
	"time"
)

// Budget is a deletion budget: at most MaxDeletes deletes by one version in
// any sliding Window.
type Budget struct {
	MaxDeletes int
	Window     time.Duration
}

// Validate returns ErrInvalidBudget for MaxDeletes < 0 or Window <= 0.
func (b Budget) Validate() error {
	if b.MaxDeletes < 0 {
		return fmt.Errorf("%w: maxDeletes %d is negative", ErrInvalidBudget, b.MaxDeletes)
	}
	if b.Window <= 0 {
		return fmt.Errorf("%w: window %s is not positive", ErrInvalidBudget, b.Window)
	}
	return nil
}

// InWindow counts the deletes (their times, any order) inside the sliding
// window (now-window, now]. Deletes stamped after now are counted too (a
// clock step backwards must not hand out budget).
func InWindow(deletes []time.Time, window time.Duration, now time.Time) int {
	from := now.Add(-window)
	n := 0
	for _, t := range deletes {
		if t.After(from) {
			n++
		}
	}
	return n
}

// AllowDelete is the breaker rule: may one more delete by a version happen at
// now, given the times of its earlier allowed deletes and whether its breaker
// is already open?
//
// It returns (true, "") while the deletes in the window stay ≤ MaxDeletes
// after this one, and (false, reason) when the breaker is open or this delete
// would exceed the budget — the caller then denies the delete and trips the
// breaker. An invalid budget denies with the validation error as reason.
func AllowDelete(b Budget, deletes []time.Time, tripped bool, now time.Time) (bool, string) {
	return AllowDeletes(b, deletes, tripped, now, 1)
}

// AllowDeletes is AllowDelete for a request that deletes n objects at once:
// an owner and the n-1 children the garbage collector will delete after it
// (they count against whoever deleted the owner). n < 1 counts as 1.
func AllowDeletes(b Budget, deletes []time.Time, tripped bool, now time.Time, n int) (bool, string) {
	if err := b.Validate(); err != nil {
		return false, err.Error()
	}
	if tripped {
		return false, "deletion breaker is open: deletes are refused until the canary is reverted or reset"
	}
	n = max(n, 1)
	had := InWindow(deletes, b.Window, now)
	if had+n > b.MaxDeletes {
		if n == 1 {
			return false, fmt.Sprintf("delete %d in the last %s exceeds deletionBudget.maxDeletes %d", had+1, b.Window, b.MaxDeletes)
		}
		return false, fmt.Sprintf("deletes %d-%d in the last %s (an owner and %d children) exceed deletionBudget.maxDeletes %d", had+1, had+n, b.Window, n-1, b.MaxDeletes)
	}
	return true, ""
}
