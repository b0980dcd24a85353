package canary

import (
	"slices"
	"strconv"

	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// WebhookPath is the URL path the webhook of the canary named name is
// served on.
func WebhookPath(name string) string { return "/canary/" + name }

// WebhookConfiguration returns the ValidatingWebhookConfiguration that sends
// to handover (at baseURL, e.g. "https://127.0.0.1:9443", trusted through
// caBundle PEM) what CEL cannot decide: CREATE, UPDATE and DELETE of the
// controlled resources (a child's owner must be looked up) and DELETE of the
// main resources (deletes are counted against the budget).
//
// It holds two webhooks with the same rules, each scoped by matchConditions
// to one version's identity: the canary's with failurePolicy Fail (a
// handover outage blocks only the canary) and the stable version's with
// Ignore (a handover outage never blocks production). Requests of other
// identities never reach handover. Timeouts are 5 s. With spec.shadow the
// canary's webhook also gets CREATE and UPDATE of the main resources and
// their status (shadowRules).
func WebhookConfiguration(cc *v1alpha1.ControllerCanary, baseURL string, caBundle []byte) *admv1.ValidatingWebhookConfiguration {
	var rules []admv1.RuleWithOperations
	for _, r := range cc.Spec.ControlledResources {
		rules = append(rules, admv1.RuleWithOperations{
			Operations: []admv1.OperationType{admv1.Create, admv1.Update, admv1.Delete},
			Rule:       admv1.Rule{APIGroups: []string{r.Group}, APIVersions: []string{"*"}, Resources: []string{r.Resource}, Scope: ptr.To(admv1.AllScopes)},
		})
	}
	for _, r := range cc.Spec.Resources {
		rules = append(rules, admv1.RuleWithOperations{
			Operations: []admv1.OperationType{admv1.Delete},
			Rule:       admv1.Rule{APIGroups: []string{r.Group}, APIVersions: []string{"*"}, Resources: []string{r.Resource}, Scope: ptr.To(admv1.AllScopes)},
		})
	}
	url := baseURL + WebhookPath(cc.Name)
	hook := func(role string, v v1alpha1.ControllerVersion, fp admv1.FailurePolicyType, rules []admv1.RuleWithOperations) admv1.ValidatingWebhook {
		return admv1.ValidatingWebhook{
			Name:                    role + "." + cc.Name + ".canary.handover.dev",
			ClientConfig:            admv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
			Rules:                   rules,
			FailurePolicy:           ptr.To(fp),
			MatchPolicy:             ptr.To(admv1.Equivalent),
			SideEffects:             ptr.To(admv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
			NamespaceSelector:       namespaceSelector(cc),
			MatchConditions: []admv1.MatchCondition{{
				Name:       "is-" + role + "-identity",
				Expression: "request.userInfo.username == " + strconv.Quote(v.Identity),
			}},
		}
	}
	return &admv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: PolicyName(cc.Name), Labels: map[string]string{"app.kubernetes.io/managed-by": "handover"}},
		Webhooks: []admv1.ValidatingWebhook{
			hook("canary", cc.Spec.Canary, admv1.Fail, slices.Concat(rules, shadowRules(cc))),
			hook("stable", cc.Spec.Stable, admv1.Ignore, rules),
		},
	}
}

// shadowRules are the canary webhook's extra rules when spec.shadow is set:
// CREATE and UPDATE of the main resources and UPDATE of their status (the
// admission policy lets the canary's writes through to the webhook while
// the shadow runs; outside it the webhook applies the same ownership rule
// as the policy and lets creates of main objects pass).
func shadowRules(cc *v1alpha1.ControllerCanary) []admv1.RuleWithOperations {
	if cc.Spec.Shadow == nil {
		return nil
	}
	var rules []admv1.RuleWithOperations
	for _, r := range cc.Spec.Resources {
		rules = append(rules, admv1.RuleWithOperations{
			Operations: []admv1.OperationType{admv1.Create, admv1.Update},
			Rule:       admv1.Rule{APIGroups: []string{r.Group}, APIVersions: []string{"*"}, Resources: []string{r.Resource, r.Resource + "/status"}, Scope: ptr.To(admv1.AllScopes)},
		})
	}
	return rules
}

// WebhookConfigurationForService is WebhookConfiguration with the client
// config naming svc (namespace, name, port; the path is WebhookPath) instead
// of a URL: the form a controller in the cluster uses. The serving
// certificate must be valid for <name>.<namespace>.svc.
func WebhookConfigurationForService(cc *v1alpha1.ControllerCanary, svc admv1.ServiceReference, caBundle []byte) *admv1.ValidatingWebhookConfiguration {
	hook := WebhookConfiguration(cc, "", caBundle)
	for i := range hook.Webhooks {
		ref := svc
		ref.Path = ptr.To(WebhookPath(cc.Name))
		hook.Webhooks[i].ClientConfig = admv1.WebhookClientConfig{Service: &ref, CABundle: caBundle}
	}
	return hook
}
