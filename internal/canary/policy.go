package canary

import (
	"fmt"

	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// PolicyName is the name of the ValidatingAdmissionPolicy (and binding)
// that fences the canary version of the ControllerCanary named canary, and
// of its ValidatingWebhookConfiguration.
func PolicyName(canary string) string { return "handover-canary-" + canary }

// StablePolicyName is the name of the policy (and binding) that fences the
// stable version of the ControllerCanary named canary.
func StablePolicyName(canary string) string { return PolicyName(canary) + "-stable" }

// Policies returns the two policies and bindings of cc (Policy for the
// canary's identity, then for the stable one's). They are split by identity
// so that the apiserver's per-policy counter
// apiserver_validating_admission_policy_check_total{policy=PolicyName,
// enforcement_action="deny"} counts the canary's denied writes alone (the
// maxDeniedWrites gate).
func Policies(cc *v1alpha1.ControllerCanary) ([]*admv1.ValidatingAdmissionPolicy, []*admv1.ValidatingAdmissionPolicyBinding) {
	cp, cb := Policy(cc, roleCanary)
	sp, sb := Policy(cc, roleStable)
	return []*admv1.ValidatingAdmissionPolicy{cp, sp}, []*admv1.ValidatingAdmissionPolicyBinding{cb, sb}
}

// Roles of a policy: whose requests it sees.
const (
	roleCanary = "canary"
	roleStable = "stable"
)

// CEL building blocks of the policy. The param is the ControllerCanary
// itself, so a write of spec.revert flips enforcement for every object in
// one write, and a change of identities needs no regeneration.
const (
	celCaller = `request.userInfo.username == params.spec.canary.identity ? params.spec.canary.revision : ` +
		`(request.userInfo.username == params.spec.stable.identity ? params.spec.stable.revision : '')`
	// celLabel is the ownership label of oldObject ('' when absent).
	celOldLabel = `has(oldObject.metadata.labels) && '` + v1alpha1.LabelControllerRevision + `' in oldObject.metadata.labels ? ` +
		`oldObject.metadata.labels['` + v1alpha1.LabelControllerRevision + `'] : ''`
	celNewLabel = `object == null ? variables.oldLabel : (has(object.metadata.labels) && '` + v1alpha1.LabelControllerRevision + `' in object.metadata.labels ? ` +
		`object.metadata.labels['` + v1alpha1.LabelControllerRevision + `'] : '')`
	// celShadow: the shadow step runs (ShadowActive): the canary's writes
	// go on to the webhook, which records and denies every one.
	celShadow = `has(params.spec.shadow) && has(params.metadata.annotations) && '` + v1alpha1.AnnotationShadow + `' in params.metadata.annotations && ` +
		`params.metadata.annotations['` + v1alpha1.AnnotationShadow + `'] == 'true' && variables.caller == params.spec.canary.revision`
	celOwner = `has(params.spec.revert) && params.spec.revert ? params.spec.stable.revision : ` +
		`(variables.oldLabel != '' ? variables.oldLabel : params.spec.stable.revision)`
)

// Policy returns the ValidatingAdmissionPolicy and its binding that enforce
// ownership of cc's main resources for the requests of one version (role
// "canary" or "stable": matchConditions on params.spec.<role>.identity)
// for controllers that do not cooperate:
// an UPDATE (PATCH is an UPDATE in admission) or DELETE of an object, and of
// its status subresource, by one version's identity is denied when the
// object (as it was before the request) is owned by the other version; an
// UPDATE by a version may not change the ownership label. Requests of any
// other identity (handover itself, users, the garbage collector) pass.
//
// While the shadow step runs (ShadowActive, read from the param) the
// canary's writes pass the policy: the canary's webhook (failurePolicy
// Fail, with shadowRules) records and denies every one of them.
//
// Ownership is LabelControllerRevision on oldObject, no label = stable; with
// spec.revert every object is stable's (RevisionOf). The policy's param is
// cc itself (paramKind ControllerCanary, paramRef by name,
// parameterNotFoundAction Deny: a deleted canary blocks both versions until
// the policy is removed, never lets both write). failurePolicy Fail: CEL
// runs in the apiserver, there is no outage to tolerate.
func Policy(cc *v1alpha1.ControllerCanary, role string) (*admv1.ValidatingAdmissionPolicy, *admv1.ValidatingAdmissionPolicyBinding) {
	name := PolicyName(cc.Name)
	if role == roleStable {
		name = StablePolicyName(cc.Name)
	}
	var rules []admv1.NamedRuleWithOperations
	for _, r := range cc.Spec.Resources {
		rules = append(rules, admv1.NamedRuleWithOperations{RuleWithOperations: admv1.RuleWithOperations{
			Operations: []admv1.OperationType{admv1.Update, admv1.Delete},
			Rule: admv1.Rule{
				APIGroups: []string{r.Group}, APIVersions: []string{"*"},
				Resources: []string{r.Resource, r.Resource + "/status"}, Scope: ptr.To(admv1.AllScopes),
			},
		}})
	}
	pol := &admv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "handover"}},
		Spec: admv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admv1.Fail),
			MatchConditions: []admv1.MatchCondition{{
				Name:       "is-" + role + "-identity",
				Expression: "request.userInfo.username == params.spec." + role + ".identity",
			}},
			ParamKind: &admv1.ParamKind{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ControllerCanary"},
			MatchConstraints: &admv1.MatchResources{
				ResourceRules:     rules,
				MatchPolicy:       ptr.To(admv1.Equivalent),
				NamespaceSelector: namespaceSelector(cc),
				ObjectSelector:    objectSelector(cc),
			},
			Variables: []admv1.Variable{
				{Name: "caller", Expression: celCaller},
				{Name: "oldLabel", Expression: celOldLabel},
				{Name: "newLabel", Expression: celNewLabel},
				{Name: "owner", Expression: celOwner},
				{Name: "shadow", Expression: celShadow},
			},
			Validations: []admv1.Validation{
				{
					Expression: `variables.caller == '' || variables.caller == variables.owner || variables.shadow`,
					MessageExpression: `'controller canary ' + params.metadata.name + ': ' + request.userInfo.username + ' (revision ' + variables.caller + ') may not ' + ` +
						`request.operation + ' ' + request.resource.resource + ' ' + (request.namespace != '' ? request.namespace + '/' : '') + request.name + ': owned by revision ' + variables.owner`,
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: `variables.caller == '' || request.operation != 'UPDATE' || variables.newLabel == variables.oldLabel || variables.shadow`,
					MessageExpression: `'controller canary ' + params.metadata.name + ': ' + request.userInfo.username + ' may not change the label ` +
						v1alpha1.LabelControllerRevision + ` of ' + request.resource.resource + ' ' + request.name + '; handover assigns owners'`,
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
			},
		},
	}
	bind := &admv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: pol.Labels},
		Spec: admv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: name,
			ParamRef: &admv1.ParamRef{
				Name:                    cc.Name,
				ParameterNotFoundAction: ptr.To(admv1.DenyAction),
			},
			ValidationActions: []admv1.ValidationAction{admv1.Deny},
		},
	}
	return pol, bind
}

// namespaceSelector is the main resources' common namespace selector
// (Validate requires them to be equal), nil when none is set.
func namespaceSelector(cc *v1alpha1.ControllerCanary) *metav1.LabelSelector {
	if len(cc.Spec.Resources) == 0 || cc.Spec.Resources[0].NamespaceSelector == nil {
		return nil
	}
	return cc.Spec.Resources[0].NamespaceSelector.DeepCopy()
}

// objectSelector is the main resources' common object selector, nil when
// none is set.
func objectSelector(cc *v1alpha1.ControllerCanary) *metav1.LabelSelector {
	if len(cc.Spec.Resources) == 0 || cc.Spec.Resources[0].ObjectSelector == nil {
		return nil
	}
	return cc.Spec.Resources[0].ObjectSelector.DeepCopy()
}

// describePolicy is a one-line summary for logs and plan descriptions.
func describePolicy(cc *v1alpha1.ControllerCanary) string {
	return fmt.Sprintf("ValidatingAdmissionPolicies %s and %s over %d main resource(s), param ControllerCanary %s", PolicyName(cc.Name), StablePolicyName(cc.Name), len(cc.Spec.Resources), cc.Name)
}
