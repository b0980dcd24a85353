// Package canary is the `handover canary` command group: plan, status,
// promote, revert and pause of a ControllerCanary in a cluster. Each verb
// is one read or one write; the operator's ControllerCanary controller
// (internal/controller/controllercanary) does the work.
package canary

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	canarypkg "github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
)

// Options are the inputs every verb shares.
type Options struct {
	Kube kubeflags.Flags
	Name string
	Out  io.Writer
}

// NewCommand returns `handover canary` with its verbs.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "canary",
		Short: "Inspect and steer a ControllerCanary (plan, status, promote, revert, pause)",
		Long: `Inspect and steer a ControllerCanary: a controller's objects handed from its
stable version to a canary version step by step, with a deletion budget and
a one-switch revert (docs/canary.md).

  plan NAME      validate the spec and print the steps and their gates
  status NAME    print phase, steps, owned objects, breaker and conditions
  promote NAME   end the pauses: go on to promotion as soon as gates pass
  revert NAME    throw the revert switch (spec.revert=true): every object is
                 the stable version's at once; the plan rolls back
  pause NAME     stop the plan where it is (--resume continues it)
  diff NAME      show what the canary tried to write in its shadow step
  preflight NAME check version skew (CRDs, stored versions, schemas, leader
                 election) against the live cluster; changes nothing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		verb("plan", "Validate a ControllerCanary and print its plan", Plan),
		verb("status", "Print a ControllerCanary's progress", Status),
		verb("promote", "End the pauses of a ControllerCanary's steps", Promote),
		verb("revert", "Throw the revert switch of a ControllerCanary (one write)", Revert),
		pauseCommand(),
		diffCommand(),
		preflightCommand(),
	)
	return cmd
}

func verb(use, short string, run func(context.Context, *Options) error) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Out = args[0], cmd.OutOrStdout()
			return run(cmd.Context(), o)
		},
	}
	o.Kube.AddFlags(cmd.Flags(), false)
	return cmd
}

func pauseCommand() *cobra.Command {
	var resume bool
	cmd := verb("pause", "Stop a ControllerCanary's plan where it is (--resume continues it)", nil)
	o := &Options{}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.Name, o.Out = args[0], cmd.OutOrStdout()
		return Pause(cmd.Context(), o, !resume)
	}
	cmd.ResetFlags()
	o.Kube.AddFlags(cmd.Flags(), false)
	cmd.Flags().BoolVar(&resume, "resume", false, "clear spec.paused instead of setting it")
	return cmd
}

// client builds a client and reads the ControllerCanary o.Name.
func (o *Options) get(ctx context.Context) (client.Client, *v1alpha1.ControllerCanary, error) {
	cfg, err := o.Kube.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	s, err := kubeflags.Scheme()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, nil, err
	}
	cc := &v1alpha1.ControllerCanary{}
	if err := c.Get(ctx, client.ObjectKey{Name: o.Name}, cc); err != nil {
		return nil, nil, fmt.Errorf("read ControllerCanary %s: %w", o.Name, err)
	}
	return c, cc, nil
}

// Plan validates the spec (Validate, CheckResources) and prints the steps.
// Errors name the object and field; nothing is written.
func Plan(ctx context.Context, o *Options) error {
	c, cc, err := o.get(ctx)
	if err != nil {
		return err
	}
	if errs := canarypkg.Validate(cc); len(errs) > 0 {
		return fmt.Errorf("ControllerCanary %s: %w", cc.Name, errs.ToAggregate())
	}
	kinds, errs := canarypkg.CheckResources(cc, c.RESTMapper())
	if len(errs) > 0 {
		return fmt.Errorf("ControllerCanary %s: %w", cc.Name, errs.ToAggregate())
	}
	p, err := canarypkg.NewPlan(canarypkg.Config{Client: c, Canary: cc, Kinds: kinds})
	if err != nil {
		return err
	}
	b := canarypkg.BudgetOf(cc)
	_, _ = fmt.Fprintf(o.Out, "plan %s: %s (%s) → %s (%s); deletion budget %d per %s\n", p.Name,
		cc.Spec.Stable.Revision, cc.Spec.Stable.Identity, cc.Spec.Canary.Revision, cc.Spec.Canary.Identity, b.MaxDeletes, b.Window)
	for i, s := range p.Steps {
		mark := ""
		if i == p.PointOfNoReturn {
			mark = "  ← point of no return"
		}
		desc := ""
		if d, ok := s.(interface{ Describe() string }); ok {
			desc = d.Describe()
		}
		_, _ = fmt.Fprintf(o.Out, "  %d. %-22s %s%s\n", i+1, s.Name(), desc, mark)
	}
	return nil
}

// Status prints phase, outcome, steps, breaker, owned objects and deletes
// per revision, the gates' last verdicts and conditions.
func Status(ctx context.Context, o *Options) error {
	_, cc, err := o.get(ctx)
	if err != nil {
		return err
	}
	st := &cc.Status
	_, _ = fmt.Fprintf(o.Out, "ControllerCanary %s: %s → %s, phase %s", cc.Name, cc.Spec.Stable.Revision, cc.Spec.Canary.Revision, dash(st.Phase))
	if st.Outcome != "" {
		_, _ = fmt.Fprintf(o.Out, ", outcome %s (%s)", st.Outcome, st.Reason)
	}
	_, _ = fmt.Fprintf(o.Out, "; revert %t, paused %t\n", cc.Spec.Revert, cc.Spec.Paused)
	for _, s := range st.Steps {
		_, _ = fmt.Fprintf(o.Out, "  step %-22s %-9s %s\n", s.Name, s.Phase, s.Reason)
	}
	if st.Breaker.Open {
		_, _ = fmt.Fprintf(o.Out, "  breaker OPEN for %s: %s\n", st.Breaker.Revision, st.Breaker.Reason)
	}
	if len(st.Owned) > 0 {
		_, _ = fmt.Fprintf(o.Out, "  owned  %s\n", counts(st.Owned))
	}
	if len(st.Deletes) > 0 {
		_, _ = fmt.Fprintf(o.Out, "  deletes in window  %s\n", counts(st.Deletes))
	}
	for _, g := range st.Gates {
		_, _ = fmt.Fprintf(o.Out, "  gate %-15s %-7s %s\n", g.Name, g.Verdict, g.Message)
	}
	for _, c := range st.Conditions {
		_, _ = fmt.Fprintf(o.Out, "  condition %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	if meta.IsStatusConditionFalse(st.Conditions, v1alpha1.CanaryConditionValid) {
		return fmt.Errorf("ControllerCanary %s: spec is not valid (see condition Valid)", cc.Name)
	}
	return nil
}

// counts prints "v1 30, v2 10".
func counts(vs []v1alpha1.VersionCount) string {
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("%s %d", v.Revision, v.Count))
	}
	return strings.Join(parts, ", ")
}

// Revert writes spec.revert=true: one write, effective for every object.
func Revert(ctx context.Context, o *Options) error {
	c, cc, err := o.get(ctx)
	if err != nil {
		return err
	}
	if err := canarypkg.SetRevert(ctx, c, cc.Name, true); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(o.Out, "ControllerCanary %s: revert switch thrown; every object belongs to %s now, the plan rolls back\n", cc.Name, cc.Spec.Stable.Revision)
	return nil
}

// Promote sets the promote annotation: the pauses end, the gates still hold.
func Promote(ctx context.Context, o *Options) error {
	return patch(ctx, o, fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AnnotationPromote),
		"pauses ended; promotion follows as soon as every step's gates pass")
}

// Pause sets (or clears) spec.paused.
func Pause(ctx context.Context, o *Options, paused bool) error {
	msg := "paused: the plan stops where it is"
	if !paused {
		msg = "resumed"
	}
	return patch(ctx, o, fmt.Sprintf(`{"spec":{"paused":%t}}`, paused), msg)
}

func patch(ctx context.Context, o *Options, body, msg string) error {
	c, cc, err := o.get(ctx)
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, cc, client.RawPatch("application/merge-patch+json", []byte(body))); err != nil {
		return fmt.Errorf("ControllerCanary %s: %w", cc.Name, err)
	}
	_, _ = fmt.Fprintf(o.Out, "ControllerCanary %s: %s\n", cc.Name, msg)
	return nil
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
