package controllercanary

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
)

// ReasonForbidden is the Valid=False reason when handover itself may not do
// what the canary needs (relabel its resources, impersonate its identity).
const ReasonForbidden = "Forbidden"

// checkAccess asks the apiserver (SelfSubjectAccessReview, as for the
// CertificateAuthority's targets) whether handover may do what cc needs
// before anything is written: get, list and patch every main resource and
// list every controlled resource in every namespace it selects
// (cluster-wide without a namespaceSelector), and
// impersonate spec.canary.identity (the enforcement gate's dry-run write).
// It returns "" when all are allowed, else a message naming the field and
// the missing permission; err is a failed review.
func (r *Reconciler) checkAccess(ctx context.Context, cc *v1alpha1.ControllerCanary) (string, error) {
	type need struct {
		field string
		res   v1alpha1.CanaryResource
		verbs []string
	}
	var needs []need
	for i, res := range cc.Spec.Resources {
		needs = append(needs, need{fmt.Sprintf("spec.resources[%d]", i), res, []string{"get", "list", "patch"}})
	}
	for i, res := range cc.Spec.ControlledResources {
		// The webhook counts a deleted owner's children.
		needs = append(needs, need{fmt.Sprintf("spec.controlledResources[%d]", i), res, []string{"list"}})
	}
	// Validate makes every main resource's selectors equal resources[0]'s;
	// the children live in the same namespaces.
	scope, err := canary.ScopeOf(ctx, r.Reader, cc.Spec.Resources[0], "")
	if err != nil {
		return fmt.Sprintf("spec.resources[0].%v", err), nil
	}
	for _, n := range needs {
		for _, ns := range scope.Namespaces {
			for _, verb := range n.verbs {
				ok, err := r.may(ctx, &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: n.res.Group, Resource: n.res.Resource})
				if err != nil {
					return "", err
				}
				if !ok {
					where := "in every namespace"
					if ns != "" {
						where = fmt.Sprintf("in namespace %q", ns)
					}
					return fmt.Sprintf("%s: handover may not %s %s %s (grant it, see docs/canary.md)", n.field, verb, resourceName(n.res), where), nil
				}
			}
		}
	}
	attrs := impersonation(cc.Spec.Canary.Identity)
	ok, err := r.may(ctx, attrs)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("spec.canary.identity: handover may not impersonate %q (grant impersonate on %s %q, see docs/canary.md)", cc.Spec.Canary.Identity, attrs.Resource, attrs.Name), nil
	}
	return "", nil
}

// may is one SelfSubjectAccessReview of handover's own identity.
func (r *Reconciler) may(ctx context.Context, attrs *authorizationv1.ResourceAttributes) (bool, error) {
	rev := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}
	if err := r.Client.Create(ctx, rev); err != nil {
		return false, fmt.Errorf("access review %s %s/%s in %q: %w", attrs.Verb, attrs.Group, attrs.Resource, attrs.Namespace, err)
	}
	return rev.Status.Allowed, nil
}

// impersonation is the access to impersonate identity: a ServiceAccount
// ("system:serviceaccount:<ns>:<name>") is impersonated as
// serviceaccounts/<name> in <ns>, anyone else as users/<identity>.
func impersonation(identity string) *authorizationv1.ResourceAttributes {
	if rest, ok := strings.CutPrefix(identity, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			return &authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: ns, Name: name}
		}
	}
	return &authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "users", Name: identity}
}

func resourceName(res v1alpha1.CanaryResource) string {
	if res.Group == "" {
		return res.Resource
	}
	return res.Resource + "." + res.Group
}
