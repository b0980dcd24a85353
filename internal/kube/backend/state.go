package backend

import (
	"context"
	"crypto/x509"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

// published is the source of truth as the cluster holds it now.
type published struct {
	// bundles are the trust bundles of every existing target and leaf
	// Secret (ca.crt), each named for messages.
	bundles []namedPEM
	// leaves are tls.crt of every existing leaf Secret.
	leaves []namedPEM
	// latest is the newest AnnotationPublishedAt; zero when none.
	latest time.Time
}

type namedPEM struct {
	name string // e.g. "Secret ns/x key ca.crt"
	data []byte
}

// readTarget returns the bundle a target holds (nil when the object or key
// is absent) and its AnnotationPublishedAt (zero when absent or unparsable).
func (b *Backend) readTarget(ctx context.Context, t target) ([]byte, time.Time, error) {
	var obj client.Object
	if t.kind == v1alpha1.TargetConfigMap {
		obj = &corev1.ConfigMap{}
	} else {
		obj = &corev1.Secret{}
	}
	err := b.c.Get(ctx, t.name, obj)
	if apierrors.IsNotFound(err) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: get %s %s: %w", t.field, t.kind, t.name, err)
	}
	at := publishedAt(obj)
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		if v, ok := cm.Data[t.key]; ok {
			return []byte(v), at, nil
		}
		return nil, at, nil
	}
	return obj.(*corev1.Secret).Data[t.key], at, nil
}

func (b *Backend) readCert(ctx context.Context, ct certTarget) (*corev1.Secret, error) {
	var s corev1.Secret
	err := b.c.Get(ctx, ct.name, &s)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: get Secret %s: %w", ct.field, ct.name, err)
	}
	return &s, nil
}

func publishedAt(obj client.Object) time.Time {
	v := obj.GetAnnotations()[AnnotationPublishedAt]
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

func (b *Backend) readPublished(ctx context.Context) (*published, error) {
	p := &published{}
	for _, t := range b.targets {
		data, at, err := b.readTarget(ctx, t)
		if err != nil {
			return nil, err
		}
		if at.After(p.latest) {
			p.latest = at
		}
		if len(data) > 0 {
			p.bundles = append(p.bundles, namedPEM{fmt.Sprintf("%s %s key %s", t.kind, t.name, t.key), data})
		}
	}
	for _, ct := range b.certs {
		s, err := b.readCert(ctx, ct)
		if err != nil || s == nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		if at := publishedAt(s); at.After(p.latest) {
			p.latest = at
		}
		if d := s.Data[bundleKey]; len(d) > 0 {
			p.bundles = append(p.bundles, namedPEM{fmt.Sprintf("Secret %s key %s", ct.name, bundleKey), d})
		}
		if d := s.Data[corev1.TLSCertKey]; len(d) > 0 {
			p.leaves = append(p.leaves, namedPEM{fmt.Sprintf("Secret %s key %s", ct.name, corev1.TLSCertKey), d})
		}
	}
	return p, nil
}

// rootPool returns every certificate of every published bundle as a pool;
// nil when there is none.
func (p *published) rootPool() *x509.CertPool {
	var pool *x509.CertPool
	for _, nb := range p.bundles {
		certs, err := trust.ParseCertificates(nb.data)
		if err != nil {
			continue
		}
		if pool == nil {
			pool = x509.NewCertPool()
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool
}

// chainsTo reports whether the leaf (first certificate of chainPEM, the rest
// intermediates) verifies against the certificates in rootsPEM, for any
// extended key usage.
func chainsTo(chainPEM []byte, roots *x509.CertPool, now time.Time) bool {
	certs, err := trust.ParseCertificates(chainPEM)
	if err != nil || roots == nil {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

func poolOf(pemBytes []byte) *x509.CertPool {
	certs, err := trust.ParseCertificates(pemBytes)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// reached returns nil when the latest publish has reached cs's pods: Hot —
// spec.propagationTimeout has passed since it; RolloutRestart/Evict — every
// workload carries this backend's restart marker for it (or a later one)
// and is rolled out. Otherwise an error wrapping ErrPropagating.
func (b *Backend) reached(ctx context.Context, cs *consumerSpec, latest time.Time) error {
	if latest.IsZero() {
		return nil
	}
	if cs.spec.Reload == v1alpha1.ReloadHot {
		left := latest.Add(b.prop).Sub(b.clk.Now())
		if left > 0 {
			return fmt.Errorf("%w (%ds left)", ErrPropagating, int(math.Ceil(left.Seconds())))
		}
		return nil
	}
	ws, err := b.workloads(ctx, cs)
	if err != nil {
		return err
	}
	for _, w := range ws {
		at, ok := restartedFor(w, cs.spec.Reload)
		if !ok || at.Before(latest) {
			return fmt.Errorf("%w: %s not restarted since the publish at %s", ErrPropagating, w, latest.UTC().Format(time.RFC3339))
		}
		if done, why := w.rolledOut(); !done {
			return fmt.Errorf("%w: %s restarting: %s", ErrPropagating, w, why)
		}
	}
	return nil
}

// restartedFor reads the restart marker this backend left on w.
func restartedFor(w workload, reload v1alpha1.ReloadPolicy) (time.Time, bool) {
	var v string
	if reload == v1alpha1.ReloadEvict {
		v = w.obj.GetAnnotations()[AnnotationEvictedFor]
	} else {
		v = w.template().Annotations[AnnotationRestartedAt]
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}
