package ca

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func newRevertCommand(clk clock.Clock) *cobra.Command {
	o := &TriggerOptions{Clock: clk}
	cmd := &cobra.Command{
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
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Out = args[0], cmd.OutOrStdout()
			return runRevert(cmd.Context(), o)
		},
	}
	addTriggerFlags(cmd, o)
	return cmd
}

func runRevert(ctx context.Context, o *TriggerOptions) error {
	c, ns, err := o.connect()
	if err != nil {
		return err
	}
	ca, err := getCA(ctx, c, ns, o.Name)
	if err != nil {
		return err
	}
	running := rotationRunning(ca)
	if !running && len(ca.Status.Previous) == 0 {
		return fmt.Errorf("%w: %s %s/%s runs no rotation and status.previous is empty", ErrNothingToRevert, kindCA, ns, o.Name)
	}
	token := o.token()
	since, err := annotate(ctx, c, ca, annotationRevert, token)
	if err != nil {
		return err
	}
	if since.IsZero() {
		since = o.Clock.Now()
	}
	var buf bytes.Buffer // writes to a bytes.Buffer cannot fail; one checked write below
	_, _ = fmt.Fprintf(&buf, "%s %s/%s: set %s=%s\n", kindCA, ns, o.Name, annotationRevert, token)
	describeRevert(&buf, ca, running)
	_, _ = fmt.Fprintf(&buf, "Watch it with: handover ca status %s -n %s\n", o.Name, ns)
	if _, err := o.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	if !o.Wait {
		return nil
	}
	if running {
		// An aborted rotation ends RolledBack: that is the revert working.
		return waitForRotation(ctx, c, o, ns, since, "", "RolledBack")
	}
	return waitForRotation(ctx, c, o, ns, since, "")
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
