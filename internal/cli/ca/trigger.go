package ca

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
)

// Annotations the controller watches (internal/controller/certificateauthority
// exports the same names; they are repeated here so the CLI does not import
// the controller and its dependencies).
const (
	annotationRotate = "handover.dev/rotate"
	annotationRevert = "handover.dev/revert"
)

// TriggerOptions are the inputs of `handover ca rotate|revert NAME`.
type TriggerOptions struct {
	ClusterOptions
	// Token is the annotation value; empty means the current time from Clock
	// (RFC 3339, nanoseconds, UTC), which differs from any earlier trigger.
	Token string
	// Wait blocks until the rotation the trigger starts has ended.
	Wait bool
	// Timeout bounds Wait (0 = no bound besides the context).
	Timeout time.Duration
	// Interval is the status poll period while waiting (default 2s).
	Interval time.Duration
	Clock    clock.Clock
	Out      io.Writer
}

// annotate sets one annotation with a JSON merge patch on metadata only
// (RFC 7386): no other field of the object is sent, so nothing else changes.
func annotate(ctx context.Context, c client.Client, ca *v1alpha1.CertificateAuthority, key, value string) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{key: value}},
	})
	if err != nil {
		return err
	}
	obj := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: ca.Namespace, Name: ca.Name}}
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return kubeflags.Explain(err, "patch", kindCA, ca.Namespace, ca.Name)
	}
	return nil
}

func (o *TriggerOptions) token() string {
	if o.Token != "" {
		return o.Token
	}
	return o.Clock.Now().UTC().Format(time.RFC3339Nano)
}

// progressLine summarises the status fields a waiting user cares about.
func progressLine(ca *v1alpha1.CertificateAuthority) string {
	st := ca.Status
	line := "phase " + orDash(st.Phase)
	if r := st.Rotation; r != nil {
		line += ", rotation step " + orDash(r.Phase)
		if r.RollingBack {
			line += " (rolling back)"
		}
	}
	line += fmt.Sprintf(", bundle generation %d", st.BundleGeneration)
	if st.ConsumersConverged != "" {
		line += ", " + st.ConsumersConverged
	}
	if st.Queued != "" {
		line += ", queued " + st.Queued
	}
	return line
}

// rotationEnded reports whether ca shows the end of a rotation that started
// at or after since: condition Rotating is False and its lastTransitionTime
// (second precision) is not before since truncated to the second. A False
// Rotating condition that predates the trigger does not count.
func rotationEnded(ca *v1alpha1.CertificateAuthority, since time.Time) bool {
	cond := meta.FindStatusCondition(ca.Status.Conditions, v1alpha1.ConditionRotating)
	if cond == nil || cond.Status != metav1.ConditionFalse {
		return false
	}
	return !cond.LastTransitionTime.Time.Before(since.Truncate(time.Second))
}

// waitForRotation polls the object every o.Interval, prints a line whenever
// the progress summary changes, and returns when rotationEnded. It returns
// ErrRotationFailed when the last rotation's outcome is neither Succeeded nor
// one of accept, and ErrWaitTimeout when o.Timeout passes first.
func waitForRotation(ctx context.Context, c client.Client, o *TriggerOptions, ns string, since time.Time, accept ...string) error {
	interval := o.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	var deadline <-chan time.Time
	if o.Timeout > 0 {
		deadline = o.Clock.After(o.Timeout)
	}
	last := ""
	for {
		ca, err := getCA(ctx, c, ns, o.Name)
		if err != nil {
			return err
		}
		if line := progressLine(ca); line != last {
			if _, err := fmt.Fprintf(o.Out, "%s  %s\n", o.Clock.Now().UTC().Format(time.RFC3339), line); err != nil {
				return err
			}
			last = line
		}
		if rotationEnded(ca, since) {
			return rotationResult(o.Out, ca, accept)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%w after %s: %s %s/%s is still %s", ErrWaitTimeout, o.Timeout, kindCA, ns, o.Name, last)
		case <-o.Clock.After(interval):
		}
	}
}

// rotationResult prints how the rotation ended and returns ErrRotationFailed
// unless status.rotation.outcome is Succeeded or in accept (or absent: Legacy
// mode and first publishes keep no plan).
func rotationResult(w io.Writer, ca *v1alpha1.CertificateAuthority, accept []string) error {
	r := ca.Status.Rotation
	if r == nil || r.Outcome == "Succeeded" || slices.Contains(accept, r.Outcome) {
		active := "-"
		if ca.Status.Active != nil {
			active = oneLine(ca.Status.Active.Subject) + " " + ca.Status.Active.Fingerprint
		}
		outcome := "Succeeded"
		if r != nil {
			outcome = r.Outcome
		}
		_, err := fmt.Fprintf(w, "rotation finished (%s): active CA %s, bundle generation %d\n", outcome, active, ca.Status.BundleGeneration)
		return err
	}
	return fmt.Errorf("%w: outcome %s: %s", ErrRotationFailed, r.Outcome, oneLine(r.Reason))
}
