package ca

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func newRotateCommand(clk clock.Clock) *cobra.Command {
	return triggerCommand(clk, &cobra.Command{
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
	}, runRotate)
}

func runRotate(ctx context.Context, o *TriggerOptions) error {
	f, err := o.fire(ctx, annotationRotate, func(w io.Writer, ca *v1alpha1.CertificateAuthority) error {
		describeRotate(w, ca)
		return nil
	})
	if err != nil || !o.Wait {
		return err
	}
	return waitForRotation(ctx, o, f, f.token)
}

// describeRotate prints what the controller will do for a rotate trigger on ca
// as it was before the trigger.
func describeRotate(w io.Writer, ca *v1alpha1.CertificateAuthority) {
	if rotationRunning(ca) {
		_, _ = fmt.Fprintf(w, "A rotation is running (step %s); this trigger is queued and starts when it ends.\n", orDash(ca.Status.Rotation.Phase))
	}
	if ca.Status.Active == nil {
		_, _ = fmt.Fprintln(w, "This CertificateAuthority has not published a CA yet: there is no old CA to keep, so nothing is")
		_, _ = fmt.Fprintln(w, "staged. The controller's first publish (bundle [CA] and leaves at once) takes this trigger as handled;")
		_, _ = fmt.Fprintln(w, "if the object is Degraded, `ca status` says what blocks that publish.")
		return
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

func newRevertCommand(clk clock.Clock) *cobra.Command {
	return triggerCommand(clk, &cobra.Command{
		Use:   "revert NAME",
		Short: "Go back to the previous CA of a CertificateAuthority (one switch)",
		Long: `Ask the handover controller to go back to the previous CA of the
CertificateAuthority NAME, by setting its annotation handover.dev/revert to a
new token (the current time, or --token). Nothing else on the object changes.

  a rotation is running, before its point of no return
      it is aborted and rolled back: every step is reverted in reverse order
  otherwise
      a new make-before-break rotation back to the previous CA runs (the
      bundle holds both CAs first, so no peer ever sees an untrusted leaf)

The command refuses (exit 1, nothing written) when no rotation is running and
the status names no previous CA. With --wait it prints progress until condition
Rotating is False again and exits 1 unless the rollback or rotation succeeded
(a rolled-back rotation reports outcome RolledBack: that is the revert working).

Needs patch on certificateauthorities.handover.dev.`,
		Example: `  handover ca revert gateway-ca -n envoy-gateway-system
  handover ca revert gateway-ca --wait`,
	}, runRevert)
}

func runRevert(ctx context.Context, o *TriggerOptions) error {
	var running bool
	f, err := o.fire(ctx, annotationRevert, func(w io.Writer, ca *v1alpha1.CertificateAuthority) error {
		running = rotationRunning(ca)
		if !running && len(ca.Status.Previous) == 0 {
			return fmt.Errorf("%w: %s %s/%s runs no rotation and status.previous is empty", ErrNothingToRevert, kindCA, ca.Namespace, o.Name)
		}
		describeRevert(w, ca, running)
		return nil
	})
	if err != nil || !o.Wait {
		return err
	}
	if running {
		// An aborted rotation ends RolledBack: that is the revert working.
		return waitForRotation(ctx, o, f, "", "RolledBack")
	}
	return waitForRotation(ctx, o, f, "")
}

func describeRevert(w io.Writer, ca *v1alpha1.CertificateAuthority, running bool) {
	if running {
		_, _ = fmt.Fprintf(w, "A rotation is running (step %s): the controller aborts it and rolls back if it is\n", orDash(ca.Status.Rotation.Phase))
		_, _ = fmt.Fprintln(w, "before its point of no return; after it, a rotation back to the previous CA follows.")
		return
	}
	p := ca.Status.Previous[0]
	_, _ = fmt.Fprintf(w, "The controller rotates back to the previous CA %s (%s), make-before-break.\n", oneLine(p.Subject), orDash(p.Fingerprint))
}
