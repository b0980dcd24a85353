package ca

import (
	"context"
	"fmt"

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

// connect resolves the kubeconfig and namespace and returns a client.
func (o *ClusterOptions) connect() (client.Client, string, error) {
	ns, err := o.Kube.ResolvedNamespace()
	if err != nil {
		return nil, "", err
	}
	cfg, err := o.Kube.RESTConfig()
	if err != nil {
		return nil, "", err
	}
	c, err := kubeflags.Client(cfg)
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
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
