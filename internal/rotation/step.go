package rotation

import (
	"context"
	"time"

	"github.com/handover-dev/handover/internal/plan"
)

// step is a plan.Step made of functions; revert may be nil (nothing to undo).
// timeout is its plan.Timeouter deadline; 0 = the plan's StepTimeout.
type step struct {
	name, desc string
	timeout    time.Duration
	apply      func(context.Context) error
	check      func(context.Context) plan.Result
	revert     func(context.Context) error
}

func (s *step) Name() string                          { return s.name }
func (s *step) Describe() string                      { return s.desc }
func (s *step) Timeout() time.Duration                { return s.timeout }
func (s *step) Apply(ctx context.Context) error       { return s.apply(ctx) }
func (s *step) Check(ctx context.Context) plan.Result { return s.check(ctx) }
func (s *step) Revert(ctx context.Context) error {
	if s.revert == nil {
		return nil
	}
	return s.revert(ctx)
}

func done(context.Context) plan.Result { return plan.Done() }
