package canary

import (
	"context"
	"fmt"

	admv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Install creates or updates cc's enforcement: the ValidatingAdmissionPolicy
// and its binding (Policy), and the ValidatingWebhookConfiguration pointing
// at webhookURL with caBundle (WebhookConfiguration). Idempotent. The
// apiserver needs a moment to load a new policy; EnforcementActive observes
// when it bites.
func Install(ctx context.Context, c client.Client, cc *v1alpha1.ControllerCanary, webhookURL string, caBundle []byte) error {
	return InstallWith(ctx, c, cc, WebhookConfiguration(cc, webhookURL, caBundle))
}

// InstallWith is Install with the webhook configuration given (e.g.
// WebhookConfigurationForService).
func InstallWith(ctx context.Context, c client.Client, cc *v1alpha1.ControllerCanary, hook *admv1.ValidatingWebhookConfiguration) error {
	pols, binds := Policies(cc)
	for i, pol := range pols {
		bind := binds[i]
		if err := upsert(ctx, c, pol, func(o *admv1.ValidatingAdmissionPolicy) { o.Labels, o.Spec = pol.Labels, pol.Spec }); err != nil {
			return err
		}
		if err := upsert(ctx, c, bind, func(o *admv1.ValidatingAdmissionPolicyBinding) { o.Labels, o.Spec = bind.Labels, bind.Spec }); err != nil {
			return err
		}
	}
	return upsert(ctx, c, hook, func(o *admv1.ValidatingWebhookConfiguration) { o.Labels, o.Webhooks = hook.Labels, hook.Webhooks })
}

func upsert[T client.Object](ctx context.Context, c client.Client, want T, set func(T)) error {
	obj := want.DeepCopyObject().(T)
	if _, err := controllerutil.CreateOrUpdate(ctx, c, obj, func() error { set(obj); return nil }); err != nil {
		return fmt.Errorf("apply %T %s: %w", want, want.GetName(), err)
	}
	return nil
}

// Uninstall deletes cc's policies, bindings and webhook configuration
// (absent ones are fine): after it both versions may write everything again.
func Uninstall(ctx context.Context, c client.Client, name string) error {
	n, s := PolicyName(name), StablePolicyName(name)
	for _, o := range []client.Object{
		&admv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: n}},
		&admv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: n}},
		&admv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: n}},
		&admv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: s}},
		&admv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: s}},
	} {
		if err := c.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// SetRevert writes spec.revert of the ControllerCanary name: one merge
// patch, the revert switch. The policy and the webhook read it, so every
// object is stable's from the moment the apiserver's informers see it.
func SetRevert(ctx context.Context, c client.Client, name string, revert bool) error {
	cc := &v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: name}}
	patch := fmt.Appendf(nil, `{"spec":{"revert":%t}}`, revert)
	if err := c.Patch(ctx, cc, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return fmt.Errorf("controllercanary %s: set spec.revert=%t: %w", name, revert, err)
	}
	return nil
}

// RefreshWebhook updates the client config (URL or Service, caBundle) of
// cc's webhook configuration when it exists (nothing otherwise): a restarted
// handover serves with a new CA, and a resumed plan does not apply its
// enforce step again.
func RefreshWebhook(ctx context.Context, c client.Client, hook *admv1.ValidatingWebhookConfiguration) error {
	cur := &admv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(hook), cur); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("read validatingwebhookconfiguration %s: %w", hook.Name, err)
	}
	return upsert(ctx, c, hook, func(o *admv1.ValidatingWebhookConfiguration) { o.Labels, o.Webhooks = hook.Labels, hook.Webhooks })
}
