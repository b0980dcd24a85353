package ca

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/kube/backend"
)

func newPlanCommand() *cobra.Command {
	return readCommand(&cobra.Command{
		Use:   "plan NAME",
		Short: "Show what a rotation of a CertificateAuthority would change, without changing it",
		Long: `Read the cluster and print what a rotation of the CertificateAuthority NAME
would touch, the way the controller's Kubernetes backend sees it right now:

  trust bundle targets  the Secrets/ConfigMaps (and data keys) that receive the
                        bundle, and whether they exist or would be created
  leaf certificates     the Secrets that receive tls.crt, tls.key and ca.crt
                        (the CA chain, never the CA's private key)
  consumers             wave by wave: the workloads, how they reload (Hot,
                        RolloutRestart, Evict), the pods restarted or evicted
                        one at a time, the PodDisruptionBudgets covering them,
                        their status.disruptionsAllowed and the eviction
                        headroom, and how the consumer is verified (a live
                        mTLS probe or waiting propagationTimeout)
  expected duration     propagation × 3 + gracePeriod + 3 × the restart
                        estimates (the staged plan changes trust three times:
                        add the new CA, switch the leaves, drop the old CA)

A consumer whose workload is missing is listed with its problem; the
controller would refuse the rotation (condition Degraded) until it is fixed.
Nothing is written. -o json prints the preview as JSON with camelCase keys,
like ca status -o json (durations in nanoseconds).`,
		Example: `  handover ca plan gateway-ca -n envoy-gateway-system
  handover ca plan gateway-ca -o json | jq '.consumers[] | {name, pods}'`,
	}, runPlan)
}

func runPlan(ctx context.Context, o *PlanOptions) error {
	c, ns, ca, err := o.read(ctx)
	if err != nil {
		return err
	}
	// The controller's rule: an object acts in its own namespace only.
	b, err := backend.New(c, ca, backend.Options{OwnNamespaceOnly: true})
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", kindCA, ns, o.Name, err)
	}
	p, err := b.Preview(ctx)
	if err != nil {
		return fmt.Errorf("%s %s/%s: preview: %w", kindCA, ns, o.Name, err)
	}
	if o.Output == "json" {
		return writeJSON(o.Out, p)
	}
	return renderPlan(o.Out, ca, p)
}

// renderPlan writes the text form of a preview. It depends only on its
// arguments (no clock, no cluster), so equal inputs render byte-identically.
func renderPlan(w io.Writer, ca *v1alpha1.CertificateAuthority, p *backend.Preview) error {
	return writeBuffered(w, func(w io.Writer) error { return writePlan(w, ca, p) })
}

func writePlan(w io.Writer, ca *v1alpha1.CertificateAuthority, p *backend.Preview) error {
	mode := string(ca.Spec.Mode)
	if mode == "" {
		mode = string(v1alpha1.ModeManaged)
	}
	_, _ = fmt.Fprintf(w, "Plan for %s %s/%s (mode %s, source %s)\n", kindCA, ca.Namespace, ca.Name, mode, sourceText(ca))
	if mode == string(v1alpha1.ModeLegacy) {
		_, _ = fmt.Fprintln(w, "Mode Legacy: the objects below are overwritten at once, without staging or restarts by handover.")
	} else {
		_, _ = fmt.Fprintln(w, "A rotation changes trust three times (add the new CA to the bundles, switch the leaves,")
		_, _ = fmt.Fprintln(w, "drop the old CA); after each change every consumer is verified and load-once consumers restart.")
	}

	_, _ = fmt.Fprintf(w, "\nTrust bundle targets (%d):\n", len(p.Targets))
	if err := writeObjects(w, p.Targets); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(w, "\nLeaf certificates (%d):\n", len(p.Certificates))
	if err := writeObjects(w, p.Certificates); err != nil {
		return err
	}

	_, _ = fmt.Fprintf(w, "\nConsumers, in wave order (%d):\n", len(p.Consumers))
	if len(p.Consumers) == 0 {
		_, _ = fmt.Fprintln(w, "  none declared")
	}
	for i := range p.Consumers {
		writeConsumer(w, &p.Consumers[i])
	}

	var problems []string
	for _, cp := range p.Consumers {
		if cp.Problem != "" {
			problems = append(problems, fmt.Sprintf("consumer %s: %s", cp.Name, oneLine(cp.Problem)))
		}
	}
	if len(problems) > 0 {
		_, _ = fmt.Fprintln(w, "\nProblems (the controller refuses to rotate until they are fixed):")
		for _, pr := range problems {
			_, _ = fmt.Fprintf(w, "  %s\n", pr)
		}
	}

	var restarts []string
	for _, cp := range p.Consumers {
		if cp.RestartEstimate > 0 {
			restarts = append(restarts, fmt.Sprintf("%s %s", cp.Name, cp.RestartEstimate))
		}
	}
	breakdown := fmt.Sprintf("propagation %s × 3 + grace %s", p.Propagation, p.Grace)
	if len(restarts) > 0 {
		breakdown += " + 3 × restarts (" + strings.Join(restarts, ", ") + ")"
	}
	_, _ = fmt.Fprintf(w, "\nExpected duration: %s = %s\n", p.ExpectedDuration, breakdown)
	_, _ = fmt.Fprintln(w, "Nothing was changed. Start it with: handover ca rotate "+ca.Name+" -n "+ca.Namespace)
	return nil
}

func writeObjects(w io.Writer, objs []backend.ObjectChange) error {
	if len(objs) == 0 {
		_, err := fmt.Fprintln(w, "  none")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  FIELD\tKIND\tOBJECT\tKEYS\tACTION")
	for _, o := range objs {
		action := "update"
		if !o.Exists {
			action = "create"
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s/%s\t%s\t%s\n", o.Field, o.Kind, o.Namespace, o.Name, strings.Join(o.Keys, ","), action)
	}
	return tw.Flush()
}

func writeConsumer(w io.Writer, cp *backend.ConsumerPreview) {
	workloads := "(none found)"
	if len(cp.Workloads) > 0 {
		workloads = strings.Join(cp.Workloads, ",")
	}
	_, _ = fmt.Fprintf(w, "  wave %d  %s: %s %s/%s, reload %s\n", cp.Wave, cp.Name, cp.Kind, cp.Namespace, workloads, cp.Reload)
	if cp.Probe != "" {
		_, _ = fmt.Fprintf(w, "    verified by: live mTLS probe at %s\n", cp.Probe)
	} else {
		_, _ = fmt.Fprintln(w, "    verified by: waiting propagationTimeout (no probe)")
	}
	if cp.Problem != "" {
		_, _ = fmt.Fprintf(w, "    problem: %s\n", oneLine(cp.Problem))
		return
	}
	switch cp.Reload {
	case v1alpha1.ReloadHot:
		_, _ = fmt.Fprintln(w, "    pods: none restarted (reloads files in place)")
		return
	case v1alpha1.ReloadEvict:
		_, _ = fmt.Fprintf(w, "    pods evicted one at a time (%d): %s\n", len(cp.Pods), listOrNone(cp.Pods))
	default:
		_, _ = fmt.Fprintf(w, "    pods replaced by a rollout restart (%d): %s\n", len(cp.Pods), listOrNone(cp.Pods))
	}
	if len(cp.PDBs) == 0 {
		_, _ = fmt.Fprintf(w, "    PodDisruptionBudgets: none; headroom %d (%s)\n", cp.Headroom, cp.HeadroomReason)
	} else {
		_, _ = fmt.Fprintf(w, "    PodDisruptionBudgets: %s; disruptionsAllowed %d; headroom %d (%s)\n",
			strings.Join(cp.PDBs, ","), cp.DisruptionsAllowed, cp.Headroom, cp.HeadroomReason)
	}
	if cp.Reload == v1alpha1.ReloadEvict && cp.Headroom == 0 && len(cp.Pods) > 0 {
		_, _ = fmt.Fprintln(w, "    warning: no eviction headroom now; evictions would wait (429) until a pod is spare")
	}
	_, _ = fmt.Fprintf(w, "    restart estimate: %s per trust change\n", cp.RestartEstimate)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
