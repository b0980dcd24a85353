package ca

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
)

// kindCA names the object in errors and output.
const kindCA = "CertificateAuthority"

// ClusterOptions are the inputs every cluster verb (plan, status, rotate,
// revert) shares: the kubeconfig flags and the object's name.
type ClusterOptions struct {
	Kube kubeflags.Flags
	Name string
}

// ReadOptions are the inputs of the read-only cluster verbs `handover ca plan
// NAME` (PlanOptions) and `handover ca status NAME` (StatusOptions): the
// object, the output format and where to print.
type ReadOptions struct {
	ClusterOptions
	Output string // "" (text) or "json"
	Out    io.Writer
}

// PlanOptions are the inputs of `handover ca plan NAME`.
type PlanOptions = ReadOptions

// StatusOptions are the inputs of `handover ca status NAME`.
type StatusOptions = ReadOptions

// readCommand completes cmd (Use, Short, Long and Example already set) as a
// read-only cluster verb: clusterCommand's NAME argument and kubeconfig flags,
// plus -o/--output; run gets the options the flags fill.
func readCommand(cmd *cobra.Command, run func(context.Context, *ReadOptions) error) *cobra.Command {
	o := &ReadOptions{}
	clusterCommand(cmd, &o.ClusterOptions, &o.Out, func(ctx context.Context) error { return run(ctx, o) })
	addOutputFlag(cmd, &o.Output, "text")
	return cmd
}

// read checks --output (checkOutput), then fetches the object; it returns
// what fetch returns, or the --output error before touching the cluster.
func (o *ReadOptions) read(ctx context.Context) (client.Client, string, *v1alpha1.CertificateAuthority, error) {
	if err := checkOutput(o.Output); err != nil {
		return nil, "", nil, err
	}
	return o.fetch(ctx)
}

// clusterCommand completes cmd (Use, Short, Long and Example already set) as
// a cluster verb on one object: it takes exactly the object's NAME, registers
// the kubeconfig flags on o, and on run sets o.Name and *out (the command's
// stdout) before calling run with the command's context. It returns cmd.
func clusterCommand(cmd *cobra.Command, o *ClusterOptions, out *io.Writer, run func(context.Context) error) *cobra.Command {
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.Name, *out = args[0], cmd.OutOrStdout()
		return run(cmd.Context())
	}
	o.Kube.AddFlags(cmd.Flags(), true)
	cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeNames(cmd.Context(), o, prefix), cobra.ShellCompDirectiveNoFileComp
	}
	return cmd
}

// completeNames lists the CertificateAuthorities of o's namespace whose
// names start with prefix, for shell completion of NAME; nil on any error
// (completion must stay quiet), bounded to 5 s.
func completeNames(ctx context.Context, o *ClusterOptions, prefix string) []cobra.Completion {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ns, err := o.Kube.ResolvedNamespace()
	if err != nil {
		return nil
	}
	cfg, err := o.Kube.RESTConfig()
	if err != nil {
		return nil
	}
	c, err := kubeflags.Client(cfg)
	if err != nil {
		return nil
	}
	l := &v1alpha1.CertificateAuthorityList{}
	if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, ca := range l.Items {
		if strings.HasPrefix(ca.Name, prefix) {
			out = append(out, ca.Name)
		}
	}
	return out
}

// fetch resolves o's kubeconfig flags and namespace, builds a client and
// reads the CertificateAuthority o.Name. It returns the client, the namespace
// and the object, or the first error: a kubeconfig/namespace problem from
// kubeflags, or getCA's explained read error.
func (o *ClusterOptions) fetch(ctx context.Context) (client.Client, string, *v1alpha1.CertificateAuthority, error) {
	ns, err := o.Kube.ResolvedNamespace()
	if err != nil {
		return nil, "", nil, err
	}
	cfg, err := o.Kube.RESTConfig()
	if err != nil {
		return nil, "", nil, err
	}
	c, err := kubeflags.Client(cfg)
	if err != nil {
		return nil, "", nil, err
	}
	ca, err := getCA(ctx, c, ns, o.Name)
	if err != nil {
		return nil, "", nil, err
	}
	return c, ns, ca, nil
}

// getCA reads the named CertificateAuthority; errors say what to do (see
// kubeflags.Explain): not found (naming the namespace), CRD missing, forbidden.
func getCA(ctx context.Context, c client.Client, ns, name string) (*v1alpha1.CertificateAuthority, error) {
	ca := &v1alpha1.CertificateAuthority{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ca); err != nil {
		return nil, kubeflags.Explain(err, "get", kindCA, ns, name)
	}
	return ca, nil
}

// rotationRunning reports whether status.rotation holds a plan run without an
// outcome (the worker is, or will resume, running it).
func rotationRunning(ca *v1alpha1.CertificateAuthority) bool {
	return ca.Status.Rotation != nil && ca.Status.Rotation.Outcome == ""
}

// sourceText describes spec.source in one line.
func sourceText(ca *v1alpha1.CertificateAuthority) string {
	s := ca.Spec.Source
	switch {
	case s.Generate != nil:
		g := s.Generate
		txt := "generate"
		if g.Algorithm != "" {
			txt += " " + string(g.Algorithm)
		}
		if g.Duration != nil {
			txt += fmt.Sprintf(", valid %s", g.Duration.Duration)
		}
		if g.RenewBefore != nil {
			txt += fmt.Sprintf(", renewed %s before expiry", g.RenewBefore.Duration)
		}
		return txt
	case s.SecretRef != nil:
		return fmt.Sprintf("secretRef %s/%s (external root)", ca.Namespace, s.SecretRef.Name)
	default:
		return "none"
	}
}
