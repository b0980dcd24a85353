package canary

import (
	"context"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Extend completes a canary's webhook and plan Config with what spec.shadow
// and spec.members ask for, so a caller that builds both (the operator's
// reconciler, the demo) needs one call:
//
//   - spec.shadow: one ShadowLog shared by wh and cfg (cfg.ShadowNamespace =
//     namespace, where the record's ConfigMap goes);
//   - spec.members: a client per member from its kubeconfig Secret in
//     namespace (read with reader), a webhook per member (wh's fields, the
//     member's client as Reader, the same Ledger) registered with handle at
//     MemberWebhookPath, and cfg.Members for the enforce step.
//
// Call it before handle(WebhookPath(cc.Name), wh) and NewPlan(*cfg). Errors
// (a member's Secret) name the member; nothing is registered then.
func Extend(ctx context.Context, reader client.Reader, namespace string, scheme *runtime.Scheme, clk clock.PassiveClock,
	cc *v1alpha1.ControllerCanary, wh *Webhook, cfg *Config, handle func(path string, h http.Handler)) error {
	members, err := MemberClients(ctx, reader, namespace, cc, scheme)
	if err != nil {
		return err
	}
	if cc.Spec.Shadow != nil {
		l := NewShadowLog(cc, clk)
		wh.Shadow, cfg.Shadow, cfg.ShadowNamespace = l, l, namespace
	}
	for _, m := range members {
		handle(MemberWebhookPath(cc.Name, m.Name), &Webhook{
			Canary: wh.Canary, Reader: m.Client, Ledger: wh.Ledger, Kinds: wh.Kinds, Children: wh.Children,
			OnDecision: wh.OnDecision, Shadow: wh.Shadow, Cluster: m.Name,
		})
	}
	cfg.Members = members
	return nil
}
