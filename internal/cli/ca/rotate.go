package ca

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func newRotateCommand(clk clock.Clock) *cobra.Command {
	o := &TriggerOptions{Clock: clk}
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Start a make-before-break rotation of a CertificateAuthority now",
		Long: `Ask the handover controller to rotate the CertificateAuthority NAME now, by
setting its annotation handover.dev/rotate to a new token (the current time,
or --token). Nothing else on the object changes; the controller does the work:

  source.generate   a fresh CA is generated and rolled out
  source.secretRef  the external root's current certificate is re-published

The rollout is the staged plan: publish a bundle holding the old and new CA to
every trust bundle target, wait until every consumer has it (live mTLS probe or
propagationTimeout), restart or evict the consumers that load certificates once
(wave by wave, honouring PodDisruptionBudgets), re-issue the leaf certificates,
verify, and drop the old CA after gracePeriod. In mode Legacy, or without any
consumer to verify, the targets are overwritten at once, without staging.

A rotation already running is never interleaved: the trigger is queued
(status.queued) and starts when the running one ends. "handover ca plan NAME"
shows beforehand what a rotation will touch; "handover ca status NAME" shows
progress. With --wait the command prints progress until condition Rotating is
False again and exits 1 unless the rotation succeeded.

Needs patch on certificateauthorities.handover.dev.`,
		Example: `  handover ca plan gateway-ca -n envoy-gateway-system     # what it will touch
  handover ca rotate gateway-ca -n envoy-gateway-system
  handover ca rotate gateway-ca --wait --timeout 30m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Out = args[0], cmd.OutOrStdout()
			return runRotate(cmd.Context(), o)
		},
	}
	addTriggerFlags(cmd, o)
	return cmd
}

func addTriggerFlags(cmd *cobra.Command, o *TriggerOptions) {
	o.Kube.AddFlags(cmd.Flags(), true)
	cmd.Flags().StringVar(&o.Token, "token", "", "annotation value (default: the current time, RFC 3339); any new value triggers")
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "wait, printing progress, until the rotation has ended")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "with --wait: give up after this long (0 = never)")
	cmd.Flags().DurationVar(&o.Interval, "interval", 2*time.Second, "with --wait: status poll period")
}

func runRotate(ctx context.Context, o *TriggerOptions) error {
	c, ns, err := o.connect()
	if err != nil {
		return err
	}
	ca, err := getCA(ctx, c, ns, o.Name)
	if err != nil {
		return err
	}
	token := o.token()
	since, err := annotate(ctx, c, ca, annotationRotate, token)
	if err != nil {
		return err
	}
	if since.IsZero() {
		since = o.Clock.Now()
	}
	var buf bytes.Buffer // writes to a bytes.Buffer cannot fail; one checked write below
	_, _ = fmt.Fprintf(&buf, "%s %s/%s: set %s=%s\n", kindCA, ns, o.Name, annotationRotate, token)
	describeRotate(&buf, ca)
	_, _ = fmt.Fprintf(&buf, "Watch it with: handover ca status %s -n %s\n", o.Name, ns)
	if _, err := o.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	if !o.Wait {
		return nil
	}
	return waitForRotation(ctx, c, o, ns, since, token)
}

// describeRotate prints what the controller will do for a rotate trigger on ca
// as it was before the trigger.
func describeRotate(w io.Writer, ca *v1alpha1.CertificateAuthority) {
	if rotationRunning(ca) {
		_, _ = fmt.Fprintf(w, "A rotation is running (step %s); this trigger is queued and starts when it ends.\n", orDash(ca.Status.Rotation.Phase))
	}
	switch {
	case ca.Spec.Source.Generate != nil:
		_, _ = fmt.Fprintln(w, "The controller generates a new CA and rolls it out:")
	case ca.Spec.Source.SecretRef != nil:
		_, _ = fmt.Fprintf(w, "The controller re-publishes the CA in Secret %s/%s:\n", ca.Namespace, ca.Spec.Source.SecretRef.Name)
	}
	if len(ca.Spec.Consumers) == 0 {
		_, _ = fmt.Fprintf(w, "  no consumers to verify: %d trust bundle target(s) and %d certificate(s) are written at once\n",
			len(ca.Spec.TrustBundles), len(ca.Spec.Certificates))
		return
	}
	if ca.Spec.Mode == v1alpha1.ModeLegacy {
		_, _ = fmt.Fprintf(w, "  mode Legacy: %d trust bundle target(s) and %d certificate(s) are overwritten at once, no staging\n",
			len(ca.Spec.TrustBundles), len(ca.Spec.Certificates))
		return
	}
	prop := "propagationTimeout"
	if p := ca.Spec.PropagationTimeout; p != nil {
		prop = p.Duration.String()
	}
	grace := "gracePeriod"
	if g := ca.Spec.GracePeriod; g != nil {
		grace = g.Duration.String()
	}
	_, _ = fmt.Fprintf(w, "  1. publish a bundle with the old and the new CA to %d trust bundle target(s)\n", len(ca.Spec.TrustBundles))
	_, _ = fmt.Fprintf(w, "  2. wait until %d consumer(s) trust it (live probe, or %s without one)\n", len(ca.Spec.Consumers), prop)
	_, _ = fmt.Fprintf(w, "  3. re-issue %d leaf certificate(s); restart or evict load-once consumers, wave by wave\n", len(ca.Spec.Certificates))
	_, _ = fmt.Fprintf(w, "  4. verify, then after %s drop the old CA from the bundles\n", grace)
}
