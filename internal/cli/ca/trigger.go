package ca

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
)

// Annotations the controller watches (api/v1alpha1).
const (
	annotationRotate = v1alpha1.AnnotationRotate
	annotationRevert = v1alpha1.AnnotationRevert
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
//
// It returns the time the apiserver recorded for the write (the newest
// metadata.managedFields time, second precision), so a later comparison with
// controller-written times does not depend on this machine's clock; when the
// server keeps no managed fields it returns the zero time.
func annotate(ctx context.Context, c client.Client, ca *v1alpha1.CertificateAuthority, key, value string) (time.Time, error) {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{key: value}},
	})
	if err != nil {
		return time.Time{}, err
	}
	obj := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: ca.Namespace, Name: ca.Name}}
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return time.Time{}, kubeflags.Explain(err, "patch", kindCA, ca.Namespace, ca.Name)
	}
	var at time.Time
	for _, mf := range obj.ManagedFields {
		if mf.Time != nil && mf.Time.After(at) {
			at = mf.Time.Time
		}
	}
	return at, nil
}

// triggerCommand completes cmd (Use, Short, Long and Example already set) as
// a trigger verb (rotate, revert) on one object NAME with the options
// returned: kubeconfig flags and --token, --wait, --timeout, --interval.
func triggerCommand(clk clock.Clock, cmd *cobra.Command, run func(context.Context, *TriggerOptions) error) *cobra.Command {
	o := &TriggerOptions{Clock: clk}
	clusterCommand(cmd, &o.ClusterOptions, &o.Out, func(ctx context.Context) error { return run(ctx, o) })
	cmd.Flags().StringVar(&o.Token, "token", "", "annotation value (default: the current time, RFC 3339); any new value triggers")
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "wait, printing progress, until the rotation has ended")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "with --wait: give up after this long (0 = never)")
	cmd.Flags().DurationVar(&o.Interval, "interval", 2*time.Second, "with --wait: status poll period")
	return cmd
}

// fired is what a written trigger leaves for waiting: the client, the
// object's namespace, the annotation value written and the server time of
// the write (since).
type fired struct {
	c     client.Client
	ns    string
	token string
	since time.Time
	// before is status.rotation as read just before the write (nil: none).
	before *v1alpha1.RotationStatus
}

// fire reads the object o names, lets describe check it (an error refuses:
// nothing is written or printed) and write what the controller will do, sets
// annotation key to o's token, and prints the "set key=token" line, the
// description and how to watch. since is the apiserver's time of the write,
// or o.Clock's now when the server keeps no managed fields. It returns the
// first error: kubeconfig, read, describe's refusal, patch (explained by
// kubeflags.Explain) or the write to o.Out.
func (o *TriggerOptions) fire(ctx context.Context, key string, describe func(io.Writer, *v1alpha1.CertificateAuthority) error) (*fired, error) {
	c, ns, ca, err := o.fetch(ctx)
	if err != nil {
		return nil, err
	}
	token := o.token()
	var buf bytes.Buffer // writes to a bytes.Buffer cannot fail; one checked write below
	_, _ = fmt.Fprintf(&buf, "%s %s/%s: set %s=%s\n", kindCA, ns, o.Name, key, token)
	if err := describe(&buf, ca); err != nil {
		return nil, err
	}
	since, err := annotate(ctx, c, ca, key, token)
	if err != nil {
		return nil, err
	}
	if since.IsZero() {
		since = o.Clock.Now()
	}
	_, _ = fmt.Fprintf(&buf, "Watch it with: handover ca status %s -n %s\n", o.Name, ns)
	if _, err := o.Out.Write(buf.Bytes()); err != nil {
		return nil, err
	}
	return &fired{c: c, ns: ns, token: token, since: since, before: ca.Status.Rotation.DeepCopy()}, nil
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
		for _, s := range r.Steps {
			if s.Name == r.Phase && s.Reason != "" {
				line += " (" + oneLine(s.Reason) + ")"
			}
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

// waitState is what waitForRotation has seen so far.
type waitState struct {
	// since is when the trigger was written (server time of the patch).
	since time.Time
	// before is status.rotation as read before the trigger was written;
	// a status.rotation that is still that one is not the trigger's.
	before *v1alpha1.RotationStatus
	// sawRunning is true once a poll showed a rotation running.
	sawRunning bool
}

// sameRotation reports whether a and b record the same rotation: same
// target, trigger and start time. Either nil gives false.
func sameRotation(a, b *v1alpha1.RotationStatus) bool {
	return a != nil && b != nil && a.Target == b.Target && a.Trigger == b.Trigger && a.StartedAt.Equal(&b.StartedAt)
}

// observe records ca and reports whether the rotation the trigger caused has
// ended: no rotation runs (condition Rotating is not True and
// status.rotation has an outcome), nothing is queued, the ended rotation is
// ours — it was seen running during the wait, or it is not the rotation
// recorded before the trigger and its startedAt (second precision) is not
// before the trigger (a rotation that ended within the trigger's second is
// told apart by its target and start) — and, when it succeeded,
// status.active is its target. A rotation that ended before the trigger, and
// the controller not having acted yet, do not count.
func (w *waitState) observe(ca *v1alpha1.CertificateAuthority) bool {
	running := rotationRunning(ca) || meta.IsStatusConditionTrue(ca.Status.Conditions, v1alpha1.ConditionRotating)
	if running {
		w.sawRunning = true
		return false
	}
	r := ca.Status.Rotation
	if r == nil || r.Outcome == "" || ca.Status.Queued != "" {
		return false
	}
	if !w.sawRunning && (sameRotation(r, w.before) || r.StartedAt.Time.Before(w.since.Truncate(time.Second))) {
		return false
	}
	// The worker records the outcome first; the reconciler then adopts the
	// new CA into status.active. Until it has, the status still describes
	// the CA the rotation replaced.
	if r.Outcome == "Succeeded" {
		return ca.Status.Active != nil && ca.Status.Active.Fingerprint == r.Target
	}
	return true
}

// waitForRotation polls the object every o.Interval, prints a line whenever
// the progress summary changes, and returns when waitState.observe says the
// rotation has ended, or — for a re-publish, which runs no rotation — when
// the controller's "Republished" event for token appears. It returns
// ErrRotationFailed when the rotation's outcome is neither Succeeded nor one
// of accept, and ErrWaitTimeout when o.Timeout passes first.
func waitForRotation(ctx context.Context, o *TriggerOptions, f *fired, token string, accept ...string) error {
	c, ns := f.c, f.ns
	interval := o.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	var deadline <-chan time.Time
	if o.Timeout > 0 {
		deadline = o.Clock.After(o.Timeout)
	}
	st := &waitState{since: f.since, before: f.before}
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
		if st.observe(ca) {
			return rotationResult(o.Out, ca, accept)
		}
		if token != "" && !st.sawRunning && republished(ctx, c, ns, o.Name, token) {
			_, err := fmt.Fprintf(o.Out, "re-published the active CA and fresh leaves (no rotation needed)\n")
			return err
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

// republished reports whether the controller recorded a "Republished" event
// (events.k8s.io/v1) about the object whose note carries token. Errors (no
// permission to list events) count as not yet.
func republished(ctx context.Context, c client.Client, ns, name, token string) bool {
	var events eventsv1.EventList
	if err := c.List(ctx, &events, client.InNamespace(ns)); err != nil {
		return false
	}
	for _, e := range events.Items {
		if e.Regarding.Kind == kindCA && e.Regarding.Name == name && e.Reason == "Republished" && strings.Contains(e.Note, token) {
			return true
		}
	}
	return false
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
