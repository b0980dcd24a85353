package ca

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func newStatusCommand() *cobra.Command {
	return readCommand(&cobra.Command{
		Use:   "status NAME",
		Short: "Show a CertificateAuthority's rotation state: phase, CAs, consumers",
		Long: `Show what the handover controller reports in the status of the
CertificateAuthority NAME: its conditions (Ready, Rotating, Degraded), the
phase, the active and previous CA (subject, SHA-256 fingerprint, notAfter),
the trust bundle generation, how many declared consumers run on that
generation (per consumer, with the controller's message), pods that mount a
trust bundle or leaf Secret of this CA but are not declared consumers, the running rotation's
plan steps, and a trigger queued behind it.

Times are printed in UTC (RFC 3339). When metadata.generation is ahead of
status.observedGeneration the controller has not yet acted on the latest spec;
the output says so. -o json prints the status object unchanged.

The object is read with the kubeconfig's credentials (get on
certificateauthorities.handover.dev); nothing is written.`,
		Example: `  handover ca status gateway-ca -n envoy-gateway-system
  handover ca status gateway-ca -o json | jq .consumersConverged
  watch -n2 handover ca status gateway-ca`,
	}, runStatus)
}

func runStatus(ctx context.Context, o *StatusOptions) error {
	_, _, ca, err := o.read(ctx)
	if err != nil {
		return err
	}
	if o.Output == "json" {
		return writeJSON(o.Out, ca.Status)
	}
	return renderStatus(o.Out, ca)
}

// renderStatus writes the text form of ca's status. It depends only on the
// object (no clock), so equal objects render byte-identically.
func renderStatus(w io.Writer, ca *v1alpha1.CertificateAuthority) error {
	return writeBuffered(w, func(w io.Writer) error { return writeStatus(w, ca) })
}

func writeStatus(w io.Writer, ca *v1alpha1.CertificateAuthority) error {
	st := ca.Status
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	mode := string(ca.Spec.Mode)
	if mode == "" {
		mode = string(v1alpha1.ModeManaged)
	}
	_, _ = fmt.Fprintf(tw, "Name:\t%s\n", ca.Name)
	_, _ = fmt.Fprintf(tw, "Namespace:\t%s\n", ca.Namespace)
	_, _ = fmt.Fprintf(tw, "Mode:\t%s\n", mode)
	_, _ = fmt.Fprintf(tw, "Source:\t%s\n", sourceText(ca))
	_, _ = fmt.Fprintf(tw, "Phase:\t%s\n", orDash(st.Phase))
	gen := fmt.Sprintf("%d (observed %d)", ca.Generation, st.ObservedGeneration)
	if st.ObservedGeneration < ca.Generation {
		gen += ", the controller has not acted on the latest spec yet"
	}
	_, _ = fmt.Fprintf(tw, "Generation:\t%s\n", gen)
	_, _ = fmt.Fprintf(tw, "Bundle generation:\t%d\n", st.BundleGeneration)
	_, _ = fmt.Fprintf(tw, "Consumers:\t%s\n", orDash(st.ConsumersConverged))
	_, _ = fmt.Fprintf(tw, "Queued:\t%s\n", orText(st.Queued, "nothing"))
	if st.TrustBundleNamespaces > 0 {
		_, _ = fmt.Fprintf(tw, "Bundle namespaces:\t%d (reached by spec.trustBundles namespaceSelector)\n", st.TrustBundleNamespaces)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	_, _ = fmt.Fprintln(w, "\nConditions:")
	if len(st.Conditions) == 0 {
		_, _ = fmt.Fprintln(w, "  none reported yet (is the controller running?)")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tSINCE\tMESSAGE")
		for _, t := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionRotating, v1alpha1.ConditionDegraded} {
			if cond := meta.FindStatusCondition(st.Conditions, t); cond != nil {
				writeCondition(tw, cond)
			}
		}
		for i := range st.Conditions {
			if !isStandardCondition(st.Conditions[i].Type) {
				writeCondition(tw, &st.Conditions[i])
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	_, _ = fmt.Fprintln(w, "\nCertificate authorities:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  ROLE\tSUBJECT\tFINGERPRINT\tNOT AFTER")
	if st.Active != nil {
		writeCA(tw, "active", st.Active)
	} else {
		_, _ = fmt.Fprintln(tw, "  active\t-\t-\t-")
	}
	for i := range st.Previous {
		writeCA(tw, "previous", &st.Previous[i])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(st.Consumers) > 0 {
		_, _ = fmt.Fprintln(w, "\nPer consumer:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(tw, "  CONSUMER\tBUNDLE GENERATION\tCONVERGED\tMESSAGE")
		for _, cs := range st.Consumers {
			conv := "no"
			if cs.BundleGeneration >= st.BundleGeneration {
				conv = "yes"
			}
			_, _ = fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", cs.Name, cs.BundleGeneration, conv, orDash(oneLine(cs.Message)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(st.UndeclaredConsumers) > 0 {
		_, _ = fmt.Fprintln(w, "\nUndeclared consumers (mount a trust bundle or leaf Secret of this CA but are not in")
		_, _ = fmt.Fprintln(w, "spec.consumers; nothing restarts them during a rotation):")
		for _, r := range st.UndeclaredConsumers {
			_, _ = fmt.Fprintf(w, "  %s %s/%s\n", r.Kind, r.Namespace, r.Name)
		}
	}

	if r := st.Rotation; r != nil {
		return renderRotation(w, r)
	}
	return nil
}

func renderRotation(w io.Writer, r *v1alpha1.RotationStatus) error {
	outcome := orText(r.Outcome, "running")
	if r.RollingBack && r.Outcome == "" {
		outcome = "rolling back"
	}
	_, _ = fmt.Fprintln(w, "\nRotation:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "  Target:\t%s\n", orDash(r.Target))
	_, _ = fmt.Fprintf(tw, "  Trigger:\t%s\n", orDash(r.Trigger))
	_, _ = fmt.Fprintf(tw, "  Started:\t%s\n", timeText(r.StartedAt))
	_, _ = fmt.Fprintf(tw, "  Phase:\t%s\n", orDash(r.Phase))
	_, _ = fmt.Fprintf(tw, "  Outcome:\t%s\n", outcome)
	if r.Reason != "" {
		_, _ = fmt.Fprintf(tw, "  Reason:\t%s\n", oneLine(r.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Steps) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  STEP\tPHASE\tUPDATED\tREASON")
	for _, s := range r.Steps {
		upd := "-"
		if s.UpdatedAt != nil {
			upd = timeText(*s.UpdatedAt)
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Name, s.Phase, upd, orDash(oneLine(s.Reason)))
	}
	return tw.Flush()
}

func writeCondition(w io.Writer, c *metav1.Condition) {
	_, _ = fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, orDash(c.Reason), timeText(c.LastTransitionTime), orDash(oneLine(c.Message)))
}

func writeCA(w io.Writer, role string, ca *v1alpha1.CAInfo) {
	_, _ = fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", role, orDash(oneLine(ca.Subject)), orDash(ca.Fingerprint), timeText(ca.NotAfter))
}

func isStandardCondition(t string) bool {
	return t == v1alpha1.ConditionReady || t == v1alpha1.ConditionRotating || t == v1alpha1.ConditionDegraded
}
