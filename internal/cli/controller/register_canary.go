package controller

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	admv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/controller/controllercanary"
)

// CanaryOptions configure the ControllerCanary controller of `handover
// controller`.
type CanaryOptions struct {
	// WebhookAddr is where the canaries' validating webhook listens (HTTPS,
	// certificate from a CA the process makes at start); "0" disables the
	// ControllerCanary controller ("" too: Options built in code without it).
	WebhookAddr string
	// WebhookService is "namespace/name[:port]" of the Service in front of
	// WebhookAddr (in a cluster; port 443 by default); the webhook
	// configurations name it and the certificate is valid for
	// name.namespace.svc. Empty: they use https://<WebhookAddr>, which the
	// apiserver must reach (a controller beside the apiserver, tests).
	WebhookService string
	// PodNamespace and PodName name this replica's pod (in a cluster, from
	// the downward API: $POD_NAMESPACE, $POD_NAME). With WebhookService set,
	// the leader labels its pod LabelCanaryWebhook=serving so that the
	// Service selects only the leader; empty = no labelling.
	PodNamespace, PodName string
}

// parseService parses "namespace/name[:port]".
func parseService(s string) (*admv1.ServiceReference, error) {
	ns, rest, ok := strings.Cut(s, "/")
	if !ok || ns == "" || rest == "" {
		return nil, fmt.Errorf("flag --canary-webhook-service %q: want namespace/name[:port]", s)
	}
	name, port := rest, int32(443)
	if n, p, ok := strings.Cut(rest, ":"); ok {
		v, err := strconv.ParseInt(p, 10, 32)
		if err != nil || v < 1 || v > 65535 {
			return nil, fmt.Errorf("flag --canary-webhook-service %q: port %q is not 1-65535", s, p)
		}
		name, port = n, int32(v)
	}
	return &admv1.ServiceReference{Namespace: ns, Name: name, Port: &port}, nil
}

// registerControllerCanary starts the webhook server and adds the
// ControllerCanary controller (controllercanary.Add); the server closes when
// the manager stops. A disabled controller (WebhookAddr "0" or "") adds
// nothing.
func registerControllerCanary(mgr manager.Manager, o CanaryOptions, skipNameValidation bool) error {
	if o.WebhookAddr == "0" || o.WebhookAddr == "" {
		return nil
	}
	var svc *admv1.ServiceReference
	var dns []string
	if o.WebhookService != "" {
		var err error
		if svc, err = parseService(o.WebhookService); err != nil {
			return err
		}
		dns = []string{svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local"}
	}
	if _, _, err := net.SplitHostPort(o.WebhookAddr); err != nil {
		return fmt.Errorf("flag --canary-webhook-bind-address %q: %w", o.WebhookAddr, err)
	}
	srv, err := canary.StartServerFor(o.WebhookAddr, dns, nil)
	if err != nil {
		return fmt.Errorf("canary webhook: %w", err)
	}
	if _, err := controllercanary.Add(mgr, controllercanary.Options{Server: srv, WebhookService: svc, SkipNameValidation: skipNameValidation}); err != nil {
		_ = srv.Close()
		return err
	}
	if err := mgr.Add(nonLeader(func(ctx context.Context) error {
		<-ctx.Done()
		return srv.Close()
	})); err != nil {
		return err
	}
	if svc == nil || o.PodName == "" || o.PodNamespace == "" {
		return nil
	}
	unset, set := leaderLabel(mgr.GetClient(), o.PodNamespace, o.PodName)
	if err := mgr.Add(unset); err != nil {
		return err
	}
	return mgr.Add(set)
}
