package backend

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Preview is what a rotation of this CertificateAuthority would touch, for
// `handover ca plan`. It is read-only and deterministic (spec order for
// objects, wave order for consumers, names sorted).
type Preview struct {
	// Targets are the trust bundle objects (spec.trustBundles).
	Targets []ObjectChange `json:"targets"`
	// Certificates are the leaf Secrets (spec.certificates).
	Certificates []ObjectChange `json:"certificates"`
	// Consumers in wave order.
	Consumers []ConsumerPreview `json:"consumers"`
	// Propagation and Grace are the spec's (defaults applied).
	Propagation time.Duration `json:"propagation"`
	Grace       time.Duration `json:"grace"`
	// ExpectedDuration = Propagation × 3 + Grace + 3 × the sum of the
	// consumers' RestartEstimate: the staged plan waits for three trust
	// changes (add CA, switch leaves, drop CA) and may restart each
	// load-once consumer after each of them.
	ExpectedDuration time.Duration `json:"expectedDuration"`
}

// ObjectChange is one object a rotation writes.
type ObjectChange struct {
	// Field is the spec entry, e.g. spec.trustBundles[0].
	Field     string `json:"field"`
	Kind      string `json:"kind"` // Secret or ConfigMap
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Keys are the data keys handover owns there (other keys are kept).
	Keys []string `json:"keys"`
	// Exists is false when the object would be created.
	Exists bool `json:"exists"`
}

// ConsumerPreview is what a rotation does to one consumer.
type ConsumerPreview struct {
	Name      string                `json:"name"`
	Kind      v1alpha1.WorkloadKind `json:"kind"`
	Namespace string                `json:"namespace"`
	// Workloads are the selected workload names.
	Workloads []string              `json:"workloads"`
	Reload    v1alpha1.ReloadPolicy `json:"reload"`
	Wave      int32                 `json:"wave"`
	// Probe is the probe address, "" when verified by propagation.
	Probe string `json:"probe"`
	// Pods are restarted (RolloutRestart) or evicted one at a time (Evict)
	// after each trust change; nil for Hot.
	Pods []string `json:"pods"`
	// PDBs are the PodDisruptionBudgets covering the pods, sorted.
	PDBs []string `json:"pdbs"`
	// DisruptionsAllowed is the smallest status.disruptionsAllowed of PDBs.
	DisruptionsAllowed int32 `json:"disruptionsAllowed"`
	// Headroom is the smallest EvictionHeadroom over PDBs (len(ready pods)
	// without one), with its reason.
	Headroom       int    `json:"headroom"`
	HeadroomReason string `json:"headroomReason"`
	// RestartEstimate is len(Pods) × Options.PodReadyEstimate (0 for Hot).
	RestartEstimate time.Duration `json:"restartEstimate"`
	// Problem says why the consumer cannot be acted on (a missing
	// workload); "" when fine.
	Problem string `json:"problem"`
}

// Preview reads the cluster and returns what a rotation would touch. A
// missing workload is reported in ConsumerPreview.Problem, not as an error;
// API failures return an error naming the field.
func (b *Backend) Preview(ctx context.Context) (*Preview, error) {
	p := &Preview{Propagation: b.prop, Grace: b.grace}
	for _, t := range b.targets {
		exists, err := b.exists(ctx, t.field, string(t.kind), t.name.Namespace, t.name.Name)
		if err != nil {
			return nil, err
		}
		p.Targets = append(p.Targets, ObjectChange{Field: t.field, Kind: string(t.kind), Namespace: t.name.Namespace,
			Name: t.name.Name, Keys: []string{t.key}, Exists: exists})
	}
	for _, ct := range b.certs {
		exists, err := b.exists(ctx, ct.field, "Secret", ct.name.Namespace, ct.name.Name)
		if err != nil {
			return nil, err
		}
		p.Certificates = append(p.Certificates, ObjectChange{Field: ct.field, Kind: "Secret", Namespace: ct.name.Namespace,
			Name: ct.name.Name, Keys: []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, bundleKey}, Exists: exists})
	}
	var restarts time.Duration
	for i := range b.consumers {
		cp, err := b.previewConsumer(ctx, &b.consumers[i])
		if err != nil {
			return nil, err
		}
		restarts += cp.RestartEstimate
		p.Consumers = append(p.Consumers, cp)
	}
	p.ExpectedDuration = 3*b.prop + b.grace + 3*restarts
	return p, nil
}

func (b *Backend) exists(ctx context.Context, field, kind, ns, name string) (bool, error) {
	var obj client.Object = &corev1.Secret{}
	if kind == string(v1alpha1.TargetConfigMap) {
		obj = &corev1.ConfigMap{}
	}
	err := b.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
	if err == nil {
		return true, nil
	}
	if client.IgnoreNotFound(err) == nil {
		return false, nil
	}
	return false, fmt.Errorf("%s: get %s %s/%s: %w", field, kind, ns, name, err)
}

func (b *Backend) previewConsumer(ctx context.Context, cs *consumerSpec) (ConsumerPreview, error) {
	cp := ConsumerPreview{Name: cs.spec.Name, Kind: cs.spec.Kind, Namespace: cs.namespace, Reload: cs.spec.Reload, Wave: cs.spec.Wave}
	if cs.spec.Probe != nil {
		cp.Probe = cs.spec.Probe.Address
	}
	ws, err := b.workloads(ctx, cs)
	if errors.Is(err, ErrNotFound) {
		cp.Problem = err.Error()
		return cp, nil
	}
	if err != nil {
		return cp, err
	}
	var pdbs policyv1.PodDisruptionBudgetList
	if err := b.c.List(ctx, &pdbs, client.InNamespace(cs.namespace)); err != nil {
		return cp, fmt.Errorf("%s: list PodDisruptionBudgets in %s: %w", cs.field, cs.namespace, err)
	}
	cp.Headroom = -1
	seen := map[string]bool{}
	for _, w := range ws {
		cp.Workloads = append(cp.Workloads, w.obj.GetName())
		pods, err := b.pods(ctx, w)
		if err != nil {
			return cp, err
		}
		ready := 0
		for i := range pods {
			if pods[i].DeletionTimestamp != nil {
				continue
			}
			if podReady(&pods[i]) {
				ready++
			}
			if cs.spec.Reload != v1alpha1.ReloadHot {
				cp.Pods = append(cp.Pods, pods[i].Name)
			}
		}
		covered := false
		for i := range pdbs.Items {
			pdb := &pdbs.Items[i]
			if !covers(pdb, w.template().Labels) {
				continue
			}
			covered = true
			if !seen[pdb.Name] {
				seen[pdb.Name] = true
				cp.PDBs = append(cp.PDBs, pdb.Name)
				if len(cp.PDBs) == 1 || pdb.Status.DisruptionsAllowed < cp.DisruptionsAllowed {
					cp.DisruptionsAllowed = pdb.Status.DisruptionsAllowed
				}
			}
			if h, why := EvictionHeadroom(pdb, ready); cp.Headroom < 0 || h < cp.Headroom {
				cp.Headroom, cp.HeadroomReason = h, fmt.Sprintf("%s: %s", pdb.Name, why)
			}
		}
		if !covered {
			if h, why := EvictionHeadroom(nil, ready); cp.Headroom < 0 || h < cp.Headroom {
				cp.Headroom, cp.HeadroomReason = h, why
			}
		}
	}
	sort.Strings(cp.PDBs)
	sort.Strings(cp.Pods)
	if cp.Headroom < 0 {
		cp.Headroom = 0
	}
	cp.RestartEstimate = time.Duration(len(cp.Pods)) * b.opts.PodReadyEstimate
	return cp, nil
}

// covers reports whether pdb's selector selects pods with podLabels (an
// empty selector selects every pod in policy/v1).
func covers(pdb *policyv1.PodDisruptionBudget, podLabels map[string]string) bool {
	if pdb.Spec.Selector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(podLabels))
}

// String renders the preview as the lines `handover ca plan` may print.
func (p *Preview) String() string {
	var sb strings.Builder
	for _, o := range append(append([]ObjectChange{}, p.Targets...), p.Certificates...) {
		verb := "update"
		if !o.Exists {
			verb = "create"
		}
		fmt.Fprintf(&sb, "%s %s %s/%s keys %s (%s)\n", verb, o.Kind, o.Namespace, o.Name, strings.Join(o.Keys, ","), o.Field)
	}
	for _, c := range p.Consumers {
		fmt.Fprintf(&sb, "consumer %s (wave %d, %s %s/%s, reload %s)", c.Name, c.Wave, c.Kind, c.Namespace, strings.Join(c.Workloads, ","), c.Reload)
		if c.Problem != "" {
			fmt.Fprintf(&sb, ": %s\n", c.Problem)
			continue
		}
		fmt.Fprintf(&sb, ": pods [%s], headroom %d (%s)\n", strings.Join(c.Pods, " "), c.Headroom, c.HeadroomReason)
	}
	fmt.Fprintf(&sb, "expected duration %s (propagation %s ×3 + grace %s + restarts)\n", p.ExpectedDuration, p.Propagation, p.Grace)
	return sb.String()
}
