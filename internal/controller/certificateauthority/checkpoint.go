package certificateauthority

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
)

// ErrSuperseded is returned by StatusCheckpoint.Save when status.rotation
// belongs to another rotation (another target or start time): this worker's
// rotation was replaced and must stop.
var ErrSuperseded = errors.New("status.rotation belongs to another rotation")

// StatusCheckpoint is the plan.Checkpoint of one rotation, stored in
// status.rotation of a CertificateAuthority. A rotation is identified by
// Target (fingerprint of the CA rotated in) and StartedAt; Load returns
// (nil, nil) when status.rotation is another rotation's or has no steps yet.
// Save writes only status.rotation, with a JSON merge patch on the status
// subresource that carries the resourceVersion it read, retrying on conflict
// (so it never clobbers the other status fields Reconcile writes and never
// overwrites a newer rotation).
type StatusCheckpoint struct {
	// Client writes the status subresource.
	Client client.Client
	// Reader reads the object uncached (the manager's API reader), so a
	// resumed plan sees the latest checkpoint.
	Reader client.Reader
	Key    types.NamespacedName
	// Identity and labels of the rotation.
	Target, Trigger, Strategy string
	StartedAt                 metav1.Time
}

// Load returns the plan.State in status.rotation, or (nil, nil) when there
// is none for this rotation. Errors: the read failed (wrapped).
func (c *StatusCheckpoint) Load(ctx context.Context) (*plan.State, error) {
	// Read even when ctx was cancelled: an aborted run is rerun on its
	// cancelled context to roll back.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ca := &v1alpha1.CertificateAuthority{}
	if err := c.Reader.Get(rctx, c.Key, ca); err != nil {
		return nil, fmt.Errorf("load checkpoint of %s: %w", c.Key, err)
	}
	r := ca.Status.Rotation
	if !c.owns(r) || len(r.Steps) == 0 {
		return nil, nil
	}
	return StateFromStatus(r), nil
}

// Save stores s in status.rotation. Errors: ErrSuperseded, or the patch
// failed after retries (wrapped).
func (c *StatusCheckpoint) Save(ctx context.Context, s *plan.State) error {
	return c.write(ctx, func() *v1alpha1.RotationStatus { return c.StatusFromState(s) }, true)
}

// Begin writes the initial status.rotation (phase Pending, no steps) of
// this rotation, replacing the recorded one (callers make sure no worker
// runs it). Errors: the patch failed (wrapped).
func (c *StatusCheckpoint) Begin(ctx context.Context) error {
	return c.write(ctx, func() *v1alpha1.RotationStatus {
		return &v1alpha1.RotationStatus{Target: c.Target, Trigger: c.Trigger, Strategy: c.Strategy, StartedAt: c.StartedAt, Phase: "Pending"}
	}, false)
}

func (c *StatusCheckpoint) owns(r *v1alpha1.RotationStatus) bool {
	return r != nil && r.Target == c.Target && r.StartedAt.Unix() == c.StartedAt.Unix()
}

func (c *StatusCheckpoint) write(ctx context.Context, next func() *v1alpha1.RotationStatus, mustOwn bool) error {
	// Finish a save even when ctx was cancelled (the step already
	// happened); bound it instead.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	backoff := wait.Backoff{Steps: 8, Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.1, Cap: 2 * time.Second}
	retriable := func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) || apierrors.IsTimeout(err)
	}
	err := retry.OnError(backoff, retriable, func() error {
		ca := &v1alpha1.CertificateAuthority{}
		if err := c.Reader.Get(wctx, c.Key, ca); err != nil {
			return err
		}
		cur := ca.Status.Rotation
		if mustOwn && cur != nil && !c.owns(cur) {
			return ErrSuperseded
		}
		patch, err := rotationPatch(ca.ResourceVersion, next())
		if err != nil {
			return err
		}
		return c.Client.Status().Patch(wctx, ca, client.RawPatch(types.MergePatchType, patch))
	})
	if err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", c.Key, err)
	}
	return nil
}

// rotationPatch is a merge patch replacing status.rotation as a whole: every
// field is present (null when empty), so no stale value survives the merge.
func rotationPatch(resourceVersion string, r *v1alpha1.RotationStatus) ([]byte, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, k := range []string{"strategy", "steps", "rollingBack", "outcome", "reason", "rollbackReason"} {
		if _, ok := m[k]; !ok {
			m[k] = nil
		}
	}
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": resourceVersion},
		"status":   map[string]any{"rotation": m},
	})
}

// StatusFromState maps a plan.State to status.rotation: Phase is the step
// that is Applying or Reverting, the outcome once ended, else PhaseOf.
func (c *StatusCheckpoint) StatusFromState(s *plan.State) *v1alpha1.RotationStatus {
	r := &v1alpha1.RotationStatus{
		Target: c.Target, Trigger: c.Trigger, Strategy: c.Strategy, StartedAt: c.StartedAt,
		RollingBack: s.RollingBack, Outcome: string(s.Outcome), Reason: s.Reason, RollbackReason: s.RollbackReason,
	}
	r.Phase = PhaseOf(s)
	for _, st := range s.Steps {
		t := metav1.NewTime(st.UpdatedAt)
		ss := v1alpha1.StepStatus{Name: st.Name, Phase: string(st.Phase), Reason: st.Reason, UpdatedAt: &t}
		if !st.AppliedAt.IsZero() {
			a := metav1.NewMicroTime(st.AppliedAt)
			ss.AppliedAt = &a
		}
		r.Steps = append(r.Steps, ss)
	}
	return r
}

// PhaseOf names where a plan run stands: its outcome once ended, else the
// step being applied or reverted, else (between two steps, forward) the
// next step, else "Pending".
func PhaseOf(s *plan.State) string {
	if s.Outcome != plan.OutcomeRunning {
		return string(s.Outcome)
	}
	for _, st := range s.Steps {
		if st.Phase == plan.StepApplying || st.Phase == plan.StepReverting {
			return st.Name
		}
	}
	if !s.RollingBack {
		for i := 1; i < len(s.Steps); i++ {
			if s.Steps[i-1].Phase == plan.StepDone && s.Steps[i].Phase == plan.StepPending {
				return s.Steps[i].Name
			}
		}
	}
	return "Pending"
}

// StateFromStatus maps status.rotation back to the plan.State it stores.
func StateFromStatus(r *v1alpha1.RotationStatus) *plan.State {
	s := &plan.State{
		Plan:        planName(r.Strategy),
		Outcome:     plan.Outcome(r.Outcome),
		Reason:      r.Reason,
		RollingBack: r.RollingBack, RollbackReason: r.RollbackReason,
	}
	for _, st := range r.Steps {
		ss := plan.StepState{Name: st.Name, Phase: plan.StepPhase(st.Phase), Reason: st.Reason}
		if st.UpdatedAt != nil {
			ss.UpdatedAt = st.UpdatedAt.Time
		}
		if st.AppliedAt != nil {
			ss.AppliedAt = st.AppliedAt.Time
		}
		s.Steps = append(s.Steps, ss)
	}
	return s
}

// planName is the rotation plan's name for a strategy (internal/rotation
// names its plans "rotate-trust-<strategy>").
func planName(strategy string) string { return "rotate-trust-" + strategy }
