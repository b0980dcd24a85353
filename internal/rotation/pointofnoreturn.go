package rotation

import "fmt"

// PointOfNoReturn is the index of the first step of strategy s's plan
// that is never reverted (plan.Plan.PointOfNoReturn, the same number Build
// puts in the plan): the staged plan's switch of the leaves; 0 for atomic
// and bundle, whose plans cannot be rolled back at all. An unknown strategy
// is ErrUnknownStrategy.
func PointOfNoReturn(s Strategy) (int, error) {
	switch s {
	case StrategyStaged:
		return stagedPointOfNoReturn, nil
	case StrategyAtomic, StrategyBundle:
		return 0, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownStrategy, s)
}
