package backend

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// PublishTrustBundle writes bundlePEM (one or more CERTIFICATE blocks) to
// every spec.trustBundles target (Secret of type Opaque or ConfigMap,
// created when absent; only the named key is owned, other keys are kept)
// and as ca.crt into every existing spec.certificates Secret (an absent one
// gets it from PublishLeaves). Changed objects are stamped with
// AnnotationPublishedAt and AnnotationBundleHash; equal content writes
// nothing. A bundle without a certificate returns ErrInvalidPayload; a
// missing namespace, a forbidden or invalid write returns an error naming
// the field; in both cases nothing is written (every write is dry-run
// first). It returns before any pod sees the change.
func (b *Backend) PublishTrustBundle(ctx context.Context, bundlePEM []byte) error {
	if _, err := trust.ParseCertificates(bundlePEM); err != nil {
		return fmt.Errorf("%w: trust bundle: %w", ErrInvalidPayload, err)
	}
	bundle := bytes.Clone(bundlePEM)
	now := b.clk.Now()
	edits := make([]edit, 0, len(b.targets)+len(b.certs))
	for _, t := range b.targets {
		edits = append(edits, b.targetEdit(t, bundle, now))
	}
	for _, ct := range b.certs {
		f := ct.field
		edits = append(edits, edit{
			field: f, what: "Secret", name: ct.name, create: false,
			newObj: func() client.Object { return &corev1.Secret{Type: corev1.SecretTypeTLS} },
			mutate: func(obj client.Object) (bool, error) {
				s := obj.(*corev1.Secret)
				if bytes.Equal(s.Data[bundleKey], bundle) {
					return false, nil
				}
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data[bundleKey] = bundle
				stamp(s, now, bundle)
				return true, nil
			},
		})
	}
	return b.apply(ctx, edits)
}

func (b *Backend) targetEdit(t target, bundle []byte, now time.Time) edit {
	e := edit{field: t.field, what: string(t.kind), name: t.name, create: true}
	if t.kind == v1alpha1.TargetConfigMap {
		e.newObj = func() client.Object { return &corev1.ConfigMap{} }
		e.mutate = func(obj client.Object) (bool, error) {
			cm := obj.(*corev1.ConfigMap)
			if _, bin := cm.BinaryData[t.key]; bin {
				return false, fmt.Errorf("key %q is in binaryData; handover writes it as data", t.key)
			}
			if cm.Data[t.key] == string(bundle) {
				return false, nil
			}
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[t.key] = string(bundle)
			stamp(cm, now, bundle)
			return true, nil
		}
		return e
	}
	e.newObj = func() client.Object { return &corev1.Secret{Type: corev1.SecretTypeOpaque} }
	e.mutate = func(obj client.Object) (bool, error) {
		s := obj.(*corev1.Secret)
		if bytes.Equal(s.Data[t.key], bundle) {
			return false, nil
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[t.key] = bundle
		stamp(s, now, bundle)
		return true, nil
	}
	return e
}

// PublishLeaves writes one kubernetes.io/tls Secret per spec.certificates
// entry: tls.crt (leaf then chain), tls.key (the leaf's key) and ca.crt (the
// current trust bundle: the Secret's ca.crt if set, else the first trust
// bundle target's content, else the leaf's issuer from the chain). Leaves come
// from Options.Issuer when set, else from issue (see Options.Issuer). Every
// leaf is issued and checked before the first write: the key must match the
// leaf (tls.X509KeyPair) and the leaf must not be a CA, so a CA key can never
// land in a leaf Secret; a failure returns ErrInvalidPayload naming the
// field and writes nothing. An existing Secret of another type than
// kubernetes.io/tls is an error (the type is immutable). Other keys of the
// Secret are kept.
func (b *Backend) PublishLeaves(ctx context.Context, issue rotation.IssueFunc) error {
	if b.opts.Issuer == nil && issue == nil {
		return fmt.Errorf("%w: no issuer (issue is nil and Options.Issuer unset)", ErrInvalidPayload)
	}
	fallback, err := b.firstTargetBundle(ctx)
	if err != nil {
		return err
	}
	now := b.clk.Now()
	edits := make([]edit, 0, len(b.certs))
	for _, ct := range b.certs {
		chain, key, err := b.issueOne(ct, issue)
		if err != nil {
			return err
		}
		edits = append(edits, edit{
			field: ct.field, what: "Secret", name: ct.name, create: true,
			newObj: func() client.Object { return &corev1.Secret{Type: corev1.SecretTypeTLS} },
			mutate: func(obj client.Object) (bool, error) {
				s := obj.(*corev1.Secret)
				if s.Type != corev1.SecretTypeTLS {
					return false, fmt.Errorf("%w: has type %q, want %q (the type is immutable; delete it or pick another secretName)",
						ErrInvalidSpec, s.Type, corev1.SecretTypeTLS)
				}
				ca := s.Data[bundleKey]
				if len(ca) == 0 {
					ca = fallback
				}
				if len(ca) == 0 {
					ca = issuerPEM(chain)
				}
				if bytes.Equal(s.Data[corev1.TLSCertKey], chain) && bytes.Equal(s.Data[corev1.TLSPrivateKeyKey], key) &&
					bytes.Equal(s.Data[bundleKey], ca) {
					return false, nil
				}
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data[corev1.TLSCertKey] = chain
				s.Data[corev1.TLSPrivateKeyKey] = key
				s.Data[bundleKey] = ca
				stamp(s, now, ca)
				return true, nil
			},
		})
	}
	return b.apply(ctx, edits)
}

// issueOne issues and checks the leaf of ct. Errors never carry key bytes.
func (b *Backend) issueOne(ct certTarget, issue rotation.IssueFunc) (chain, key []byte, err error) {
	if b.opts.Issuer != nil {
		chain, key, err = b.opts.Issuer(ct.spec)
	} else {
		chain, key, err = issue(rotation.Consumer{Name: leafName(ct), Role: leafRole(ct.spec), Reload: rotation.ReloadHot})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: issue leaf: %w", ct.field, err)
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		// crypto/tls's message names the mismatch, never the key bytes.
		return nil, nil, fmt.Errorf("%w: %s: leaf and key do not form a pair: %w", ErrInvalidPayload, ct.field, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: leaf: %w", ErrInvalidPayload, ct.field, err)
	}
	if leaf.IsCA {
		return nil, nil, fmt.Errorf("%w: %s: the issued certificate %q is a CA (BasicConstraints CA:TRUE, RFC 5280 §4.2.1.9); a CA key never goes into a leaf Secret",
			ErrInvalidPayload, ct.field, leaf.Subject.String())
	}
	return bytes.Clone(chain), bytes.Clone(key), nil
}

func leafName(ct certTarget) string {
	switch {
	case ct.spec.CommonName != "":
		return ct.spec.CommonName
	case len(ct.spec.DNSNames) > 0:
		return ct.spec.DNSNames[0]
	}
	return ct.spec.SecretName
}

func leafRole(c v1alpha1.CertificateSpec) rotation.Role {
	if len(c.Usages) == 1 && c.Usages[0] == v1alpha1.UsageClient {
		return rotation.RoleClient
	}
	return rotation.RoleServer
}

// issuerPEM returns the certificates after the leaf in chain (its issuers).
func issuerPEM(chain []byte) []byte {
	certs, err := trust.ParseCertificates(chain)
	if err != nil || len(certs) < 2 {
		return nil
	}
	return trust.EncodeCertificates(certs[1:]...)
}

// firstTargetBundle returns the content of the first trust bundle target
// that holds one, or nil.
func (b *Backend) firstTargetBundle(ctx context.Context) ([]byte, error) {
	for _, t := range b.targets {
		data, _, err := b.readTarget(ctx, t)
		if err != nil {
			return nil, err
		}
		if len(data) > 0 {
			return data, nil
		}
	}
	return nil, nil
}
