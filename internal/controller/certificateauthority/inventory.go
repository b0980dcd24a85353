package certificateauthority

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Target is one object a CertificateAuthority writes.
type Target struct {
	Kind      v1alpha1.TargetKind
	Namespace string
	Name      string
}

// Targets lists every object the CA writes: trust bundles and leaf Secrets
// (namespace defaulted to the CA's), deduplicated, in spec order.
func Targets(ca *v1alpha1.CertificateAuthority) []Target {
	seen := map[Target]bool{}
	var out []Target
	add := func(t Target) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, t := range ca.Spec.TrustBundles {
		add(Target{t.Kind, nsOr(t.Namespace, ca.Namespace), t.Name})
	}
	for _, c := range ca.Spec.Certificates {
		add(Target{v1alpha1.TargetSecret, nsOr(c.Namespace, ca.Namespace), c.SecretName})
	}
	return out
}

// DeclaredSelector matches the pods of one declared consumer workload.
type DeclaredSelector struct {
	Namespace string
	Selector  labels.Selector
}

// Undeclared returns the pods that mount a target (a secret or configMap
// volume, a projected volume source, env valueFrom or envFrom, in any
// container or init container) but match no declared consumer's pod
// selector, sorted by namespace and name. Pure.
func Undeclared(pods []corev1.Pod, targets []Target, declared []DeclaredSelector) []v1alpha1.ObjectReference {
	want := map[Target]bool{}
	for _, t := range targets {
		want[t] = true
	}
	var out []v1alpha1.ObjectReference
	for i := range pods {
		p := &pods[i]
		if !mountsAny(p, want) || isDeclared(p, declared) {
			continue
		}
		out = append(out, v1alpha1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func isDeclared(p *corev1.Pod, declared []DeclaredSelector) bool {
	for _, d := range declared {
		if d.Namespace == p.Namespace && d.Selector != nil && !d.Selector.Empty() && d.Selector.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

func mountsAny(p *corev1.Pod, want map[Target]bool) bool {
	has := func(kind v1alpha1.TargetKind, name string) bool {
		return name != "" && want[Target{kind, p.Namespace, name}]
	}
	for _, v := range p.Spec.Volumes {
		switch {
		case v.Secret != nil && has(v1alpha1.TargetSecret, v.Secret.SecretName):
			return true
		case v.ConfigMap != nil && has(v1alpha1.TargetConfigMap, v.ConfigMap.Name):
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.Secret != nil && has(v1alpha1.TargetSecret, s.Secret.Name) ||
					s.ConfigMap != nil && has(v1alpha1.TargetConfigMap, s.ConfigMap.Name) {
					return true
				}
			}
		}
	}
	containers := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
	for _, c := range containers {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil && has(v1alpha1.TargetSecret, r.Name) {
				return true
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil && has(v1alpha1.TargetConfigMap, r.Name) {
				return true
			}
		}
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil && has(v1alpha1.TargetSecret, e.SecretRef.Name) ||
				e.ConfigMapRef != nil && has(v1alpha1.TargetConfigMap, e.ConfigMapRef.Name) {
				return true
			}
		}
	}
	return false
}
