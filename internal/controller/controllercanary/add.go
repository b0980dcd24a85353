// Package controllercanary is the operator's ControllerCanary controller:
// add.go wires it, reconciler.go validates and runs each canary's plan
// (internal/canary) in a worker, checkpoint.go persists the plan in status.
package controllercanary

import (
	"context"
	"fmt"

	admv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
)

// ControllerName names the controller and its event reporter.
const ControllerName = "handover-controllercanary"

// Options configure Add.
type Options struct {
	// Server serves the canaries' webhooks; the apiserver must reach its
	// URL (127.0.0.1 when handover runs beside the apiserver, as in tests).
	Server *canary.Server
	// WebhookService, when set, is the Service in front of Server that the
	// webhook configurations name (in a cluster); nil uses Server.URL().
	WebhookService *admv1.ServiceReference
	// Config is handover's rest.Config (impersonated for the enforcement
	// gate); nil = mgr.GetConfig().
	Config *rest.Config
	Clock  clock.Clock
	// SkipNameValidation lets a second manager in one process register the
	// controller (tests that restart the controller).
	SkipNameValidation bool
}

// Add registers the reconciler with mgr and returns it (Stop cancels its
// workers; the manager's context also stops them).
//
// `handover controller` calls it (internal/cli/controller); its RBAC is in
// rbac.go. Beyond that, each canary needs list/patch of its resources and
// impersonate of its canary identity, granted per canary and checked by the
// reconciler (access.go) before anything is written.
func Add(mgr manager.Manager, o Options) (*Reconciler, error) {
	if o.Server == nil {
		return nil, fmt.Errorf("controllercanary: Options.Server is nil")
	}
	cfg := o.Config
	if cfg == nil {
		cfg = mgr.GetConfig()
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	r := &Reconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper(), Config: cfg,
		Server: o.Server, WebhookService: o.WebhookService, Recorder: mgr.GetEventRecorder(ControllerName), Clock: clk,
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named(ControllerName).For(&v1alpha1.ControllerCanary{}).
		WithOptions(controller.Options{SkipNameValidation: ptr.To(o.SkipNameValidation)}).Complete(r); err != nil {
		return nil, fmt.Errorf("add %s: %w", ControllerName, err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		r.Stop()
		return nil
	})); err != nil {
		return nil, err
	}
	return r, nil
}
