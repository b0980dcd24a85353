// Package kubeflags holds the kubeconfig flags shared by the commands that
// talk to a cluster (`handover ca plan|status|rotate|revert`, `handover
// controller`): --kubeconfig, --context and -n/--namespace, resolved with
// client-go's clientcmd loading rules exactly as kubectl resolves them.
package kubeflags

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Flags are the kubeconfig selection flags. The zero value means kubectl's
// defaults: $KUBECONFIG (a colon-separated list, merged) or ~/.kube/config,
// the current context and that context's namespace ("default" if unset).
type Flags struct {
	// Kubeconfig is an explicit kubeconfig path; it overrides $KUBECONFIG.
	Kubeconfig string
	// Context is the kubeconfig context to use instead of current-context.
	Context string
	// Namespace overrides the context's namespace.
	Namespace string
}

// AddFlags registers --kubeconfig, --context and -n/--namespace on fs.
// withNamespace is false for commands that are not namespaced.
func (f *Flags) AddFlags(fs *pflag.FlagSet, withNamespace bool) {
	fs.StringVar(&f.Kubeconfig, "kubeconfig", f.Kubeconfig,
		"path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.Context, "context", f.Context, "kubeconfig context to use (default: current-context)")
	if withNamespace {
		fs.StringVarP(&f.Namespace, "namespace", "n", f.Namespace,
			"namespace of the object (default: the context's namespace, else \"default\")")
	}
}

// ClientConfig returns the deferred clientcmd configuration the flags select:
// clientcmd.NewDefaultClientConfigLoadingRules (honours $KUBECONFIG) with
// ExplicitPath = --kubeconfig, and the --context / --namespace overrides.
func (f *Flags) ClientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.Context}
	overrides.Context.Namespace = f.Namespace
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// RESTConfig returns the REST configuration the flags select. Errors (no
// kubeconfig found, unknown context, unreadable file) are wrapped with
// ErrKubeconfig.
func (f *Flags) RESTConfig() (*rest.Config, error) {
	cfg, err := f.ClientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKubeconfig, err)
	}
	return cfg, nil
}

// ResolvedNamespace returns --namespace, else the context's namespace, else
// "default". Errors are wrapped with ErrKubeconfig.
func (f *Flags) ResolvedNamespace() (string, error) {
	ns, _, err := f.ClientConfig().Namespace()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrKubeconfig, err)
	}
	return ns, nil
}

// Scheme returns a new scheme with the client-go built-in types and the
// handover.dev/v1alpha1 types.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Client returns a controller-runtime client for cfg with Scheme(). The
// client maps kinds lazily, so a missing CRD surfaces on the first request
// (see Explain).
func Client(cfg *rest.Config) (client.Client, error) {
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnect, err)
	}
	return c, nil
}
