package canary

import "errors"

// Sentinel errors of the package; wrapped with %w and context.
var (
	// ErrInvalidWeight is a weight outside [0, 100] percent.
	ErrInvalidWeight = errors.New("weight out of range")
	// ErrInvalidBudget is a deletion budget with a negative maxDeletes or a
	// non-positive window.
	ErrInvalidBudget = errors.New("invalid deletion budget")
	// ErrUnknownResource is a resource the apiserver does not serve.
	ErrUnknownResource = errors.New("unknown resource")
	// ErrBreakerTripped is returned when an action is refused because the
	// deletion breaker of a canary is open.
	ErrBreakerTripped = errors.New("deletion breaker tripped")
)
