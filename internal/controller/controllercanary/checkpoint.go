package controllercanary

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
)

// StatusCheckpoint is the plan.Checkpoint of a ControllerCanary's plan,
// stored in its status (steps with appliedAt, outcome, reason, rollingBack,
// rollbackReason, phase, currentStep), so a killed controller resumes.
//
// Shape copied from certificateauthority.StatusCheckpoint in small; the two
// should become one generic status checkpoint (noted for the lead).
type StatusCheckpoint struct {
	Client client.Client // writes the status subresource
	Reader client.Reader // reads uncached
	Name   string
	Plan   string // plan name
}

// Load returns the saved state, or (nil, nil) before the first Save.
func (c *StatusCheckpoint) Load(ctx context.Context) (*plan.State, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cc := &v1alpha1.ControllerCanary{}
	if err := c.Reader.Get(rctx, client.ObjectKey{Name: c.Name}, cc); err != nil {
		return nil, fmt.Errorf("load checkpoint of controllercanary %s: %w", c.Name, err)
	}
	st := &cc.Status
	if len(st.Steps) == 0 {
		return nil, nil
	}
	s := &plan.State{Plan: c.Plan, Outcome: plan.Outcome(st.Outcome), Reason: st.Reason, RollingBack: st.RollingBack, RollbackReason: st.RollbackReason}
	for _, x := range st.Steps {
		ss := plan.StepState{Name: x.Name, Phase: plan.StepPhase(x.Phase), Reason: x.Reason}
		if x.UpdatedAt != nil {
			ss.UpdatedAt = x.UpdatedAt.Time
		}
		if x.AppliedAt != nil {
			ss.AppliedAt = x.AppliedAt.Time
		}
		s.Steps = append(s.Steps, ss)
	}
	return s, nil
}

// Save writes s into the status with a merge patch of the status
// subresource (only the checkpoint's fields).
func (c *StatusCheckpoint) Save(ctx context.Context, s *plan.State) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cc := &v1alpha1.ControllerCanary{}
	if err := c.Reader.Get(wctx, client.ObjectKey{Name: c.Name}, cc); err != nil {
		return fmt.Errorf("save checkpoint of controllercanary %s: %w", c.Name, err)
	}
	base := cc.DeepCopy()
	st := &cc.Status
	st.Steps = st.Steps[:0]
	phase, current := string(s.Outcome), int32(0)
	for i, x := range s.Steps {
		ss := v1alpha1.StepStatus{Name: x.Name, Phase: string(x.Phase), Reason: x.Reason, UpdatedAt: &metav1.Time{Time: x.UpdatedAt}}
		if !x.AppliedAt.IsZero() {
			ss.AppliedAt = &metav1.MicroTime{Time: x.AppliedAt}
		}
		st.Steps = append(st.Steps, ss)
		if x.Phase == plan.StepApplying || x.Phase == plan.StepReverting {
			current = int32(i)
			if phase == "" {
				phase = x.Name
			}
		}
	}
	if phase == "" {
		phase = "Progressing"
	}
	st.Phase, st.CurrentStep = phase, current
	st.Outcome, st.Reason, st.RollingBack, st.RollbackReason = string(s.Outcome), s.Reason, s.RollingBack, s.RollbackReason
	if err := c.Client.Status().Patch(wctx, cc, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("save checkpoint of controllercanary %s: %w", c.Name, err)
	}
	return nil
}

// PauseStarted implements canary.PauseStore from status.pauseStep and
// status.pauseStartedAt.
func (c *StatusCheckpoint) PauseStarted(ctx context.Context, step string) (time.Time, bool, error) {
	cc := &v1alpha1.ControllerCanary{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Name: c.Name}, cc); err != nil {
		return time.Time{}, false, fmt.Errorf("read pause of controllercanary %s: %w", c.Name, err)
	}
	if cc.Status.PauseStep != step || cc.Status.PauseStartedAt == nil {
		return time.Time{}, false, nil
	}
	return cc.Status.PauseStartedAt.Time, true, nil
}

// SetPauseStarted records step's pause start in status (a merge patch).
func (c *StatusCheckpoint) SetPauseStarted(ctx context.Context, step string, at time.Time) error {
	cc := &v1alpha1.ControllerCanary{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Name: c.Name}, cc); err != nil {
		return fmt.Errorf("record pause of controllercanary %s: %w", c.Name, err)
	}
	base := cc.DeepCopy()
	cc.Status.PauseStep, cc.Status.PauseStartedAt = step, &metav1.Time{Time: at}
	if err := c.Client.Status().Patch(ctx, cc, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("record pause of controllercanary %s: %w", c.Name, err)
	}
	return nil
}
