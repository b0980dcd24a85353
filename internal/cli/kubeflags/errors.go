package kubeflags

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrKubeconfig: the kubeconfig could not be loaded or has no usable context.
	ErrKubeconfig = errors.New("kubeconfig")
	// ErrConnect: no client could be built for the cluster.
	ErrConnect = errors.New("cannot reach the cluster")
	// ErrNotFound: the named object does not exist in the namespace.
	ErrNotFound = errors.New("not found")
	// ErrCRDMissing: the CertificateAuthority CRD is not installed.
	ErrCRDMissing = errors.New("the CertificateAuthority CRD (certificateauthorities.handover.dev) is not installed in this cluster")
	// ErrForbidden: the kubeconfig's user may not perform the request.
	ErrForbidden = errors.New("no permission")
)

// Explain turns an API error about the object kind/namespace/name (verb is
// what was attempted: "get", "patch") into one that says what to do, wrapping
// ErrNotFound, ErrCRDMissing or ErrForbidden and the original error. Other
// errors are wrapped with the object's identity; nil stays nil.
func Explain(err error, verb, kind, namespace, name string) error {
	switch {
	case err == nil:
		return nil
	case meta.IsNoMatchError(err):
		return fmt.Errorf("%w: install it with `kubectl apply -f deploy/manifests` or the Helm chart deploy/helm/handover (%w)", ErrCRDMissing, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %q %w in namespace %q (use -n/--namespace to choose another)", kind, name, ErrNotFound, namespace)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w to %s %s %q in namespace %q: %w", ErrForbidden, verb, kind, name, namespace, err)
	default:
		return fmt.Errorf("%s %s %s/%s: %w", verb, kind, namespace, name, err)
	}
}
