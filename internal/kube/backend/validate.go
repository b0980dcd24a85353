package backend

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
)

// Validate checks, read-only, what New cannot without the API: every
// namespace of a target, leaf Secret or consumer exists; every consumer's
// workload exists (by name) or is matched (by selector); an existing leaf
// Secret is of type kubernetes.io/tls; the client may get, create and update
// the kind of every target and leaf Secret in its namespace (a
// SelfSubjectAccessReview each, so RBAC gaps show before a rotation starts).
// The first problem is returned, wrapping ErrNotFound, ErrForbidden or
// ErrInvalidSpec and naming the field, e.g.
// `spec.consumers[1].workloadName: deployment "x" not found in namespace "y"`.
func (b *Backend) Validate(ctx context.Context) error {
	var edits []edit
	for _, t := range b.targets {
		edits = append(edits, edit{field: t.field, name: t.name})
	}
	for _, ct := range b.certs {
		edits = append(edits, edit{field: ct.field, name: ct.name})
	}
	if err := b.checkNamespaces(ctx, edits); err != nil {
		return err
	}
	for _, t := range b.targets {
		res := "secrets"
		if t.kind == "ConfigMap" {
			res = "configmaps"
		}
		if err := b.canWrite(ctx, t.field, res, t.name.Namespace); err != nil {
			return err
		}
	}
	for _, ct := range b.certs {
		if err := b.canWrite(ctx, ct.field, "secrets", ct.name.Namespace); err != nil {
			return err
		}
		s, err := b.readCert(ctx, ct)
		if err != nil {
			return err
		}
		if s != nil && s.Type != corev1.SecretTypeTLS {
			return fmt.Errorf("%w: %s.secretName: Secret %s has type %q, want %q (the type is immutable)",
				ErrInvalidSpec, ct.field, ct.name, s.Type, corev1.SecretTypeTLS)
		}
	}
	for i := range b.consumers {
		if _, err := b.workloads(ctx, &b.consumers[i]); err != nil {
			return err
		}
	}
	return nil
}

// canWrite asks the apiserver whether this client may get, create and update
// resource in ns.
func (b *Backend) canWrite(ctx context.Context, field, resource, ns string) error {
	for _, verb := range []string{"get", "create", "update"} {
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource},
		}}
		if err := b.c.Create(ctx, r); err != nil {
			return fmt.Errorf("%s.namespace: access review for %s %s in %q: %w", field, verb, resource, ns, err)
		}
		if !r.Status.Allowed {
			return fmt.Errorf("%w: %s.namespace: may not %s %s in namespace %q", ErrForbidden, field, verb, resource, ns)
		}
	}
	return nil
}
