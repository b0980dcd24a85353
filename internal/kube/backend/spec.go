package backend

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/handover-dev/handover/api/v1alpha1"
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
	if c.spec.Probe != nil {
		out.Role, out.Addr = rotation.RoleServer, c.spec.Probe.Address
	}
	return out
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, field, fmt.Sprintf(format, args...))
}

func checkName(field, name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return invalid(field, "%q is not a valid object name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

func checkNamespace(field, ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return invalid(field, "%q is not a valid namespace: %s", ns, strings.Join(errs, "; "))
	}
	return nil
}

func (b *Backend) nsOr(ns string) string {
	if ns == "" {
		return b.ca.Namespace
	}
	return ns
}

func (b *Backend) parseSpec() error {
	s := &b.ca.Spec
	b.prop, b.grace = DefaultPropagationTimeout, DefaultGracePeriod
	if s.PropagationTimeout != nil {
		if s.PropagationTimeout.Duration < 0 {
			return invalid("spec.propagationTimeout", "%s is negative", s.PropagationTimeout.Duration)
		}
		b.prop = s.PropagationTimeout.Duration
	}
	if s.GracePeriod != nil {
		if s.GracePeriod.Duration < 0 {
			return invalid("spec.gracePeriod", "%s is negative", s.GracePeriod.Duration)
		}
		b.grace = s.GracePeriod.Duration
	}
	if err := b.parseTargets(); err != nil {
		return err
	}
	if err := b.parseCertificates(); err != nil {
		return err
	}
	return b.parseConsumers()
}

func (b *Backend) parseTargets() error {
	seen := map[string]string{}
	for i, t := range b.ca.Spec.TrustBundles {
		f := fmt.Sprintf("spec.trustBundles[%d]", i)
		if t.Kind != v1alpha1.TargetSecret && t.Kind != v1alpha1.TargetConfigMap {
			return invalid(f+".kind", "%q (want Secret or ConfigMap)", t.Kind)
		}
		if err := checkName(f+".name", t.Name); err != nil {
			return err
		}
		ns := b.nsOr(t.Namespace)
		if err := checkNamespace(f+".namespace", ns); err != nil {
			return err
		}
		key := t.Key
		if key == "" {
			key = bundleKey
		}
		if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
			return invalid(f+".key", "%q: %s", key, strings.Join(errs, "; "))
		}
		id := fmt.Sprintf("%s %s/%s key %s", t.Kind, ns, t.Name, key)
		if prev, ok := seen[id]; ok {
			return invalid(f, "%s is also %s", id, prev)
		}
		seen[id] = f
		b.targets = append(b.targets, target{field: f, kind: t.Kind, name: types.NamespacedName{Namespace: ns, Name: t.Name}, key: key})
	}
	return nil
}

func (b *Backend) parseCertificates() error {
	seen := map[types.NamespacedName]string{}
	for i, c := range b.ca.Spec.Certificates {
		f := fmt.Sprintf("spec.certificates[%d]", i)
		if err := checkName(f+".secretName", c.SecretName); err != nil {
			return err
		}
		nn := types.NamespacedName{Namespace: b.nsOr(c.Namespace), Name: c.SecretName}
		if err := checkNamespace(f+".namespace", nn.Namespace); err != nil {
			return err
		}
		if prev, ok := seen[nn]; ok {
			return invalid(f+".secretName", "Secret %s is also %s", nn, prev)
		}
		seen[nn] = f
		for j, ip := range c.IPAddresses {
			if net.ParseIP(ip) == nil {
				return invalid(fmt.Sprintf("%s.ipAddresses[%d]", f, j), "%q is not an IP address", ip)
			}
		}
		for j, u := range c.URIs {
			if pu, err := url.Parse(u); err != nil || pu.Scheme == "" {
				return invalid(fmt.Sprintf("%s.uris[%d]", f, j), "%q is not an absolute URI", u)
			}
		}
		for j, u := range c.Usages {
			if u != v1alpha1.UsageServer && u != v1alpha1.UsageClient {
				return invalid(fmt.Sprintf("%s.usages[%d]", f, j), "%q (want server or client)", u)
			}
		}
		if c.Duration != nil && c.Duration.Duration < 0 {
			return invalid(f+".duration", "%s is negative", c.Duration.Duration)
		}
		if _, err := trustAlgorithm(c.Algorithm); err != nil {
			return invalid(f+".algorithm", "%v", err)
		}
		for _, t := range b.targets {
			if t.kind == v1alpha1.TargetSecret && t.name == nn && (t.key == "tls.crt" || t.key == "tls.key") {
				return invalid(t.field+".key", "%q would overwrite the leaf of %s (Secret %s)", t.key, f, nn)
			}
		}
		b.certs = append(b.certs, certTarget{field: f, name: nn, spec: c})
	}
	return nil
}

func (b *Backend) parseConsumers() error {
	seen := map[string]string{}
	for i, c := range b.ca.Spec.Consumers {
		f := fmt.Sprintf("spec.consumers[%d]", i)
		if c.Name == "" {
			return invalid(f+".name", "is empty")
		}
		if prev, ok := seen[c.Name]; ok {
			return invalid(f+".name", "%q is also %s", c.Name, prev)
		}
		seen[c.Name] = f
		switch c.Kind {
		case v1alpha1.WorkloadKind("Deployment"), v1alpha1.WorkloadKind("StatefulSet"), v1alpha1.WorkloadKind("DaemonSet"):
		default:
			return invalid(f+".kind", "%q (want Deployment, StatefulSet or DaemonSet)", c.Kind)
		}
		switch c.Reload {
		case v1alpha1.ReloadHot, v1alpha1.ReloadRolloutRestart, v1alpha1.ReloadEvict:
		default:
			return invalid(f+".reload", "%q (want Hot, RolloutRestart or Evict)", c.Reload)
		}
		if c.Wave < 0 {
			return invalid(f+".wave", "%d is negative", c.Wave)
		}
		cs := consumerSpec{field: f, spec: c, namespace: b.nsOr(c.Namespace)}
		if err := checkNamespace(f+".namespace", cs.namespace); err != nil {
			return err
		}
		switch {
		case (c.WorkloadName == "") == (c.Selector == nil):
			return invalid(f, "set exactly one of workloadName or selector")
		case c.Selector != nil:
			sel, err := metav1.LabelSelectorAsSelector(c.Selector)
			if err != nil {
				return invalid(f+".selector", "%v", err)
			}
			if sel.Empty() {
				return invalid(f+".selector", "is empty and would select every %s", c.Kind)
			}
			cs.selector = sel
		default:
			if err := checkName(f+".workloadName", c.WorkloadName); err != nil {
				return err
			}
		}
		if c.Probe != nil {
			if _, _, err := net.SplitHostPort(c.Probe.Address); err != nil {
				return invalid(f+".probe.address", "%q is not host:port: %v", c.Probe.Address, err)
			}
		}
		b.consumers = append(b.consumers, cs)
	}
	sortByWave(b.consumers)
	return nil
}
