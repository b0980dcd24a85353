package backend

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/kube/validation"
	"github.com/handover-dev/handover/internal/rotation"
)

// target is one resolved spec.trustBundles entry.
type target struct {
	field string // "spec.trustBundles[i]"
	kind  v1alpha1.TargetKind
	name  types.NamespacedName
	key   string
}

// certTarget is one resolved spec.certificates entry.
type certTarget struct {
	field string // "spec.certificates[i]"
	name  types.NamespacedName
	spec  v1alpha1.CertificateSpec
}

// consumerSpec is one resolved spec.consumers entry.
type consumerSpec struct {
	field     string // "spec.consumers[i]"
	spec      v1alpha1.Consumer
	namespace string
	selector  labels.Selector // nil when by name
}

func (c *consumerSpec) reload() rotation.Reload {
	if c.spec.Reload == v1alpha1.ReloadHot {
		return rotation.ReloadHot
	}
	return rotation.ReloadLoadOnce
}

func (c *consumerSpec) public(replicas int) rotation.Consumer {
	out := rotation.Consumer{Name: c.spec.Name, Role: rotation.RoleClient, Reload: c.reload(), Replicas: replicas}
	if p := c.spec.Probe; p != nil {
		out.Role, out.Addr = rotation.RoleServer, p.Address
		if p.Service != "" {
			out.Addr = "service " + c.namespace + "/" + p.Service
		}
	}
	return out
}

func (b *Backend) nsOr(ns string) string { return validation.Namespace(ns, b.ca.Namespace) }

// parseSpec validates the spec (internal/kube/validation.Spec: every error,
// wrapped in ErrInvalidSpec) and resolves targets, leaf Secrets and
// consumers (sorted by wave).
func (b *Backend) parseSpec() error {
	if b.opts.OwnNamespaceOnly {
		if errs := validation.Scope(b.ca); len(errs) > 0 {
			return fmt.Errorf("%w: %w", ErrInvalidSpec, errs.ToAggregate())
		}
	}
	if errs := validation.Spec(b.ca); len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, errs.ToAggregate())
	}
	s := &b.ca.Spec
	b.prop, b.grace = DefaultPropagationTimeout, DefaultGracePeriod
	if s.PropagationTimeout != nil {
		b.prop = s.PropagationTimeout.Duration
	}
	if s.GracePeriod != nil {
		b.grace = s.GracePeriod.Duration
	}
	for i, t := range s.TrustBundles {
		b.targets = append(b.targets, target{
			field: fmt.Sprintf("spec.trustBundles[%d]", i), kind: t.Kind,
			name: types.NamespacedName{Namespace: b.nsOr(t.Namespace), Name: t.Name}, key: validation.KeyOr(t.Key, bundleKey),
		})
	}
	for i, c := range s.Certificates {
		b.certs = append(b.certs, certTarget{
			field: fmt.Sprintf("spec.certificates[%d]", i),
			name:  types.NamespacedName{Namespace: b.nsOr(c.Namespace), Name: c.SecretName}, spec: c,
		})
	}
	for i, c := range s.Consumers {
		cs := consumerSpec{field: fmt.Sprintf("spec.consumers[%d]", i), spec: c, namespace: b.nsOr(c.Namespace)}
		if c.Selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(c.Selector)
			if err != nil { // validated above
				return fmt.Errorf("%w: %s.selector: %w", ErrInvalidSpec, cs.field, err)
			}
			cs.selector = sel
		}
		b.consumers = append(b.consumers, cs)
	}
	sortByWave(b.consumers)
	return nil
}
