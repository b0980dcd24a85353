package canary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/handover-dev/handover/internal/canary/preflight"
)

// ErrPreflightRefused is returned when a preflight finding refuses the
// change.
var ErrPreflightRefused = errors.New("preflight refused")

// PreflightOptions are the flags of `handover canary preflight`.
type PreflightOptions struct {
	Options
	// CRDs are the files with the CRDs the canary's release applies.
	CRDs []string
	// Output is "text" or "json".
	Output string
}

func preflightCommand() *cobra.Command {
	o := &PreflightOptions{}
	cmd := &cobra.Command{
		Use:   "preflight NAME [--crds FILE...]",
		Short: "Check version skew before a canary starts: CRD versions, stored versions, schemas, leader-election locks (changes nothing)",
		Long: `Run the controller canary's version-skew preflight against the live cluster and
print every finding, changing nothing:

  - every version the stable revision reads (spec.stable.apiVersions) stays
    served once the CRDs in --crds are applied;
  - every version in a CRD's status.storedVersions stays served;
  - a version whose OpenAPI schema differs incompatibly (a removed field, a
    changed type) from one the stable revision reads needs
    spec.conversion.strategy Webhook; a version the stable revision reads
    must not change incompatibly in place;
  - the apiserver accepts each CRD (server-side dry run);
  - the two revisions use different leader-election locks
    (spec.{stable,canary}.leaderElectionLock) and identities.

Without --crds it checks the cluster as it is. It exits non-zero when a
finding refuses.`,
		Example: `  handover canary preflight my-controller --crds release/crds.yaml
  handover canary preflight my-controller --crds a.yaml,b.yaml -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Out = args[0], cmd.OutOrStdout()
			return Preflight(cmd.Context(), o)
		},
	}
	o.Kube.AddFlags(cmd.Flags(), false)
	cmd.Flags().StringSliceVar(&o.CRDs, "crds", nil, "files with the CRDs the canary's release applies (YAML or JSON, several documents each)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	return cmd
}

// Preflight reads the ControllerCanary o.Name, loads o.CRDs and runs
// preflight.Run; it prints every finding and returns ErrPreflightRefused
// (wrapped, naming the count) when one refuses. Nothing is written.
func Preflight(ctx context.Context, o *PreflightOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return fmt.Errorf("flag --output %q: want text or json", o.Output)
	}
	var crds []apiextensionsv1.CustomResourceDefinition // nil: the cluster as it is
	if len(o.CRDs) > 0 {
		var err error
		if crds, err = preflight.LoadCRDs(o.CRDs); err != nil {
			return fmt.Errorf("flag --crds: %w", err)
		}
	}
	c, cc, err := o.get(ctx)
	if err != nil {
		return err
	}
	fs, err := preflight.Run(ctx, c, cc, crds)
	if err != nil {
		return fmt.Errorf("ControllerCanary %s: %w", cc.Name, err)
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(fs); err != nil {
			return err
		}
	} else {
		for _, f := range fs {
			_, _ = fmt.Fprintln(o.Out, f.String())
		}
	}
	if r := preflight.Refused(fs); len(r) > 0 {
		return fmt.Errorf("ControllerCanary %s: %w: %d finding(s), first: %s", cc.Name, ErrPreflightRefused, len(r), r[0].Message)
	}
	return nil
}
