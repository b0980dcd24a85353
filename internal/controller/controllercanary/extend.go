package controllercanary

import "github.com/handover-dev/handover/internal/canary"

// extensionNamespace is handover's own namespace, where the shadow records
// (ConfigMaps) are written and member kubeconfig Secrets are read: the
// namespace of the webhook Service when one is configured, else
// canary.DefaultShadowNamespace. The operator needs get/create/update on
// ConfigMaps and get on Secrets there (not granted by deploy/ yet).
func (r *Reconciler) extensionNamespace() string {
	if r.WebhookService != nil && r.WebhookService.Namespace != "" {
		return r.WebhookService.Namespace
	}
	return canary.DefaultShadowNamespace
}
