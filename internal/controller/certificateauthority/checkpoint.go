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
// Save writes only status.rotation (never the other status fields
// Reconcile writes) and never overwrites another (newer) rotation's. It
// first sends one JSON patch (RFC 6902) to the status subresource: "test"
// that status.rotation's target and startedAt are this rotation's, then
// "replace" status.rotation. The apiserver applies a patch to the object it
// stores, all operations or none, and re-applies it when the object changed
// underneath (its update is conditional on the resourceVersion it read), so
// the ownership test and the write are one atomic step: no GET, and no
// conflict with the status patches of Reconcile. When that patch fails for
// any reason (a failed test: status.rotation is absent or another
// rotation's, or spelled otherwise; an error), Save falls back to reading
// the object and sending a JSON merge patch that carries the
// resourceVersion it read, retrying on conflict: ErrSuperseded when the
// rotation there is another one.
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
	// Wrote, when set, is called after each successful write with the
	// resourceVersion the apiserver returned for it.
	Wrote func(resourceVersion string)
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
// this rotation, replacing the recorded one unconditionally (callers make
// sure no worker runs it): one JSON merge patch without a resourceVersion,
// or, when it fails, the read-and-patch of Save. Errors: the patch failed
// (wrapped).
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
	if rv, err := c.writeOnce(wctx, next(), mustOwn); err == nil {
		c.wrote(rv)
		return nil
	}
	backoff := wait.Backoff{Steps: 8, Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.1, Cap: 2 * time.Second}
	retriable := func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) || apierrors.IsTimeout(err)
	}
	ca := &v1alpha1.CertificateAuthority{}
	err := retry.OnError(backoff, retriable, func() error {
		*ca = v1alpha1.CertificateAuthority{}
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
	c.wrote(ca.ResourceVersion)
	return nil
}

func (c *StatusCheckpoint) wrote(resourceVersion string) {
	if c.Wrote != nil {
		c.Wrote(resourceVersion)
	}
}

// writeOnce is the single-request write of write: for a Save (mustOwn) a
// JSON patch that tests this rotation owns status.rotation and replaces it
// (ownedRotationPatch), for Begin a merge patch without resourceVersion.
// Any error means nothing was written: the caller falls back to its
// read-and-patch loop, which decides ErrSuperseded. It returns the
// resourceVersion of the written object.
func (c *StatusCheckpoint) writeOnce(ctx context.Context, r *v1alpha1.RotationStatus, mustOwn bool) (string, error) {
	var patch client.Patch
	if mustOwn {
		raw, err := ownedRotationPatch(c.Target, c.StartedAt, r)
		if err != nil {
			return "", err
		}
		patch = client.RawPatch(types.JSONPatchType, raw)
	} else {
		raw, err := rotationPatch("", r)
		if err != nil {
			return "", err
		}
		patch = client.RawPatch(types.MergePatchType, raw)
	}
	ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: c.Key.Namespace, Name: c.Key.Name}}
	if err := c.Client.Status().Patch(ctx, ca, patch); err != nil {
		return "", err
	}
	return ca.ResourceVersion, nil
}

// ownedRotationPatch is a JSON patch (RFC 6902) that replaces
// status.rotation with r only if status.rotation.target is target and
// status.rotation.startedAt is startedAt (as metav1.Time writes it: RFC
// 3339, seconds, UTC); otherwise the apiserver applies none of it and
// answers 422 Invalid.
func ownedRotationPatch(target string, startedAt metav1.Time, r *v1alpha1.RotationStatus) ([]byte, error) {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	return json.Marshal([]op{
		{"test", "/status/rotation/target", target},
		{"test", "/status/rotation/startedAt", startedAt},
		{"replace", "/status/rotation", r},
	})
}

// rotationPatch is a merge patch replacing status.rotation as a whole: every
// field is present (null when empty), so no stale value survives the merge.
// With resourceVersion ("" = none) the apiserver applies it only to that
// version of the object (409 Conflict otherwise).
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
	out := map[string]any{"status": map[string]any{"rotation": m}}
	if resourceVersion != "" {
		out["metadata"] = map[string]any{"resourceVersion": resourceVersion}
	}
	return json.Marshal(out)
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
