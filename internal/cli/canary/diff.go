package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	canarypkg "github.com/handover-dev/handover/internal/canary"
)

// DiffOptions are the flags of `handover canary diff`.
type DiffOptions struct {
	Options
	// Output is "text" or "json".
	Output string
	// Namespace holds the record's ConfigMap when status.shadow.record does
	// not name it (default canarypkg.DefaultShadowNamespace).
	Namespace string
	// Limit is how many objects the text form lists (0 = all).
	Limit int
}

func diffCommand() *cobra.Command {
	o := &DiffOptions{}
	cmd := &cobra.Command{
		Use:   "diff NAME",
		Short: "Show what the canary tried to write during its shadow step (denied, recorded)",
		Long: `Show the shadow record of a ControllerCanary: every write the canary version
attempted while its shadow step ran (all denied), per resource and per object:
a create as the object, an update as a JSON patch against the stored object
(status and managed fields left out unless spec.shadow.includeStatus), a delete
as the object's identity, with attempt counts (a denied controller retries).

The record is the ConfigMap named in status.shadow.record (written every 2 s
while the shadow runs). The record is bounded by spec.shadow.maxObjects: the
least recently seen objects are dropped first and counted as dropped.`,
		Example: `  handover canary diff my-controller
  handover canary diff my-controller -o json | jq '.entries[] | select(.deletes > 0) | .name'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Out = args[0], cmd.OutOrStdout()
			return Diff(cmd.Context(), o)
		},
	}
	o.Kube.AddFlags(cmd.Flags(), false)
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&o.Namespace, "record-namespace", canarypkg.DefaultShadowNamespace, "namespace of the record's ConfigMap when status.shadow.record does not name it")
	cmd.Flags().IntVar(&o.Limit, "limit", 50, "objects listed in the text form (0 = all)")
	return cmd
}

// Diff reads the ControllerCanary o.Name and its shadow record and prints
// it (WriteDiff, or the record as JSON). Errors name the object or flag;
// nothing is written to the cluster.
func Diff(ctx context.Context, o *DiffOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return fmt.Errorf("flag --output %q: want text or json", o.Output)
	}
	if o.Limit < 0 {
		return fmt.Errorf("flag --limit %d: must not be negative", o.Limit)
	}
	c, cc, err := o.get(ctx)
	if err != nil {
		return err
	}
	ns, name := o.Namespace, canarypkg.ShadowRecordName(cc.Name)
	if s := cc.Status.Shadow; s != nil && s.Record != "" {
		if n, m, ok := strings.Cut(s.Record, "/"); ok {
			ns, name = n, m
		}
	}
	rec, err := canarypkg.LoadShadowRecord(ctx, c, ns, name)
	if err != nil {
		if cc.Spec.Shadow == nil {
			return fmt.Errorf("ControllerCanary %s has no spec.shadow (no shadow step ran): %w", cc.Name, err)
		}
		return fmt.Errorf("ControllerCanary %s: %w", cc.Name, err)
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	}
	return WriteDiff(o.Out, rec, o.Limit)
}

// WriteDiff prints rec for a human: a header, the counts per resource, then
// up to limit objects (0 = all) with their would-be change. Used by `handover
// canary diff` and the demo.
func WriteDiff(w io.Writer, rec *canarypkg.ShadowRecord, limit int) error {
	creates, updates, deletes := rec.Totals()
	_, _ = fmt.Fprintf(w, "shadow of ControllerCanary %s (revision %s), %s – %s (%s): %d denied writes; would-be creates %d, updates %d, deletes %d (distinct objects); %d objects recorded, %d dropped\n",
		rec.Canary, rec.Revision, rec.Started.UTC().Format("15:04:05"), rec.Updated.UTC().Format("15:04:05"), rec.Updated.Sub(rec.Started).Round(1e9),
		rec.Attempts, creates, updates, deletes, len(rec.Entries), rec.Dropped)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "RESOURCE\tCREATES\tUPDATES\tDELETES\tATTEMPTS")
	for _, r := range rec.Resources {
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", r.Resource, r.Creates, r.Updates, r.Deletes, r.Attempts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	n := len(rec.Entries)
	if limit > 0 {
		n = min(n, limit)
	}
	for _, e := range rec.Entries[:n] {
		res := e.Resource
		if e.Cluster != "" {
			res += "@" + e.Cluster
		}
		_, _ = fmt.Fprintf(w, "%-14s %s %s (attempts: %s)\n", e.Ops(), res, e.Key(), attempts(&e))
		switch {
		case len(e.Patch) > 0:
			_, _ = fmt.Fprintf(w, "    patch %s\n", e.Patch)
		case len(e.Object) > 0:
			_, _ = fmt.Fprintf(w, "    object %s\n", e.Object)
		}
		if e.Deletes > 0 {
			_, _ = fmt.Fprintf(w, "    uid %s resourceVersion %s\n", e.UID, e.ResourceVersion)
		}
		if e.Truncated {
			_, _ = fmt.Fprintf(w, "    (change of %d bytes not kept)\n", e.ChangeBytes)
		}
	}
	if n < len(rec.Entries) {
		_, _ = fmt.Fprintf(w, "… and %d more objects (--limit 0 or -o json for all)\n", len(rec.Entries)-n)
	}
	if rec.PayloadsStripped {
		_, _ = fmt.Fprintln(w, "(objects and patches left out: the record was too large for its ConfigMap; counts are complete)")
	}
	return nil
}

func attempts(e *canarypkg.ShadowEntry) string {
	var parts []string
	for _, p := range []struct {
		n    int64
		name string
	}{{e.Creates, "create"}, {e.Updates, "update"}, {e.Noops, "no-op update"}, {e.Deletes, "delete"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.name))
		}
	}
	return strings.Join(parts, ", ")
}
