package backend

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Validate checks, read-only, what New cannot without the API: every
// namespace of a target, leaf Secret or consumer exists; every consumer's
// workload exists (by name) or is matched (by selector); an existing leaf
// Secret is of type kubernetes.io/tls. The first problem is returned,
// wrapping ErrNotFound or ErrInvalidSpec and naming the field, e.g.
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
	for _, ct := range b.certs {
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
