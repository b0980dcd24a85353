package canary

import (
	"context"
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// LabelMemberKubeconfig must be "true" on a Secret before a ControllerCanary
// may name it in spec.members: whoever can create a ControllerCanary must
// not make handover use any credential that happens to sit in its
// namespace (the confused deputy); an administrator marks the ones meant
// for it.
const LabelMemberKubeconfig = "handover.dev/member-kubeconfig"

// DefaultKubeconfigKey is the Secret key of a member's kubeconfig when
// spec.members[].kubeconfigSecret.key is empty.
const DefaultKubeconfigKey = "kubeconfig"

// Member is a member cluster of a federated controller (spec.members): its
// name and handover's client for it.
type Member struct {
	Name   string
	Client client.Client
}

// MemberWebhookPath is the URL path of the webhook of the canary named
// canary in the member cluster named member.
func MemberWebhookPath(canary, member string) string {
	return WebhookPath(canary) + "/member/" + member
}

// MemberConfig reads the kubeconfig of member m from its Secret in
// namespace (handover's), which must carry LabelMemberKubeconfig=true, and
// returns its rest.Config. Errors name the
// member, the Secret and the key, never the content.
func MemberConfig(ctx context.Context, c client.Reader, namespace string, m v1alpha1.MemberCluster) (*rest.Config, error) {
	key := m.KubeconfigSecret.Key
	if key == "" {
		key = DefaultKubeconfigKey
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: m.KubeconfigSecret.Name}, &s); err != nil {
		return nil, fmt.Errorf("member %s: read secret %s/%s: %w", m.Name, namespace, m.KubeconfigSecret.Name, err)
	}
	if s.Labels[LabelMemberKubeconfig] != "true" {
		return nil, fmt.Errorf("member %s: secret %s/%s is not labelled %s=true: handover uses only kubeconfigs an administrator marked for member clusters", m.Name, namespace, m.KubeconfigSecret.Name, LabelMemberKubeconfig)
	}
	raw, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("member %s: secret %s/%s has no key %q", m.Name, namespace, m.KubeconfigSecret.Name, key)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		// clientcmd's errors quote no credentials, but keep the content out
		// of the message anyway.
		return nil, fmt.Errorf("member %s: secret %s/%s key %q is not a usable kubeconfig", m.Name, namespace, m.KubeconfigSecret.Name, key)
	}
	return cfg, nil
}

// MemberClients builds a client (with scheme) for every spec.members entry
// from its kubeconfig Secret in namespace; the first error names the
// member.
func MemberClients(ctx context.Context, c client.Reader, namespace string, cc *v1alpha1.ControllerCanary, scheme *runtime.Scheme) ([]Member, error) {
	var out []Member
	for _, m := range cc.Spec.Members {
		cfg, err := MemberConfig(ctx, c, namespace, m)
		if err != nil {
			return nil, err
		}
		mc, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return nil, fmt.Errorf("member %s: client: %w", m.Name, err)
		}
		out = append(out, Member{Name: m.Name, Client: mc})
	}
	return out, nil
}

// MemberWebhookConfiguration is the enforcement installed into a member
// cluster: the webhooks of WebhookConfiguration, pointed at
// baseURL+MemberWebhookPath, with every write of the main resources (and
// their status) added to both versions' rules. A member has no admission
// policy: its param, the ControllerCanary, lives in the home cluster, and
// the webhook reads it from there — so spec.revert is still one write for
// every cluster, and the member's deletes are charged to the same ledger.
func MemberWebhookConfiguration(cc *v1alpha1.ControllerCanary, member, baseURL string, caBundle []byte) *admv1.ValidatingWebhookConfiguration {
	cfg := WebhookConfiguration(cc, baseURL, caBundle)
	url := baseURL + MemberWebhookPath(cc.Name, member)
	var main []admv1.RuleWithOperations
	for _, r := range cc.Spec.Resources {
		main = append(main, admv1.RuleWithOperations{
			Operations: []admv1.OperationType{admv1.Create, admv1.Update, admv1.Delete},
			Rule:       admv1.Rule{APIGroups: []string{r.Group}, APIVersions: []string{"*"}, Resources: []string{r.Resource, r.Resource + "/status"}, Scope: ptr.To(admv1.AllScopes)},
		})
	}
	for i := range cfg.Webhooks {
		h := &cfg.Webhooks[i]
		h.ClientConfig.URL = &url
		var rules []admv1.RuleWithOperations
		for _, r := range h.Rules {
			if !isMainRule(cc, r) {
				rules = append(rules, r)
			}
		}
		h.Rules = append(rules, main...)
	}
	return cfg
}

func isMainRule(cc *v1alpha1.ControllerCanary, r admv1.RuleWithOperations) bool {
	for _, m := range cc.Spec.Resources {
		if len(r.APIGroups) == 1 && r.APIGroups[0] == m.Group && len(r.Resources) > 0 && r.Resources[0] == m.Resource {
			return true
		}
	}
	return false
}

// InstallMember creates or updates cc's enforcement in member m
// (MemberWebhookConfiguration). Idempotent.
func InstallMember(ctx context.Context, m Member, cc *v1alpha1.ControllerCanary, baseURL string, caBundle []byte) error {
	hook := MemberWebhookConfiguration(cc, m.Name, baseURL, caBundle)
	if err := upsert(ctx, m.Client, hook, func(o *admv1.ValidatingWebhookConfiguration) { o.Labels, o.Webhooks = hook.Labels, hook.Webhooks }); err != nil {
		return fmt.Errorf("member %s: %w", m.Name, err)
	}
	return nil
}

// UninstallMember deletes cc's webhook configuration from member m.
func UninstallMember(ctx context.Context, m Member, name string) error {
	o := &admv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: PolicyName(name)}}
	if err := client.IgnoreNotFound(m.Client.Delete(ctx, o)); err != nil {
		return fmt.Errorf("member %s: delete ValidatingWebhookConfiguration %s: %w", m.Name, o.Name, err)
	}
	return nil
}

// memberLabelMove is the admission policy's second rule, which a member
// (no policy) needs from the webhook: an UPDATE by a version may not change
// the ownership label. It returns a denial reason or "".
func memberLabelMove(cc *v1alpha1.ControllerCanary, caller string, req *admission.Request) string {
	if req.Operation != admissionv1.Update || len(req.OldObject.Raw) == 0 {
		return ""
	}
	var oldObj, newObj metav1.PartialObjectMetadata
	if json.Unmarshal(req.OldObject.Raw, &oldObj) != nil || json.Unmarshal(req.Object.Raw, &newObj) != nil {
		return ""
	}
	if oldObj.Labels[v1alpha1.LabelControllerRevision] == newObj.Labels[v1alpha1.LabelControllerRevision] {
		return ""
	}
	return fmt.Sprintf("controller canary %s: %s (revision %s) may not change the label %s of %s %s/%s; handover assigns owners",
		cc.Name, req.UserInfo.Username, caller, v1alpha1.LabelControllerRevision, req.Resource.Resource, req.Namespace, req.Name)
}
