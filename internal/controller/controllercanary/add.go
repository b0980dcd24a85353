// Package controllercanary is the operator's ControllerCanary controller:
// add.go wires it, reconciler.go validates and runs each canary's plan
// (internal/canary) in a worker, checkpoint.go persists the plan in status.
package controllercanary

import (
	"context"
	"fmt"

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
// Not wired into `handover controller` yet (the webhook needs an address
// the apiserver reaches, which in a cluster is a Service, not 127.0.0.1), so
// its RBAC is not in config/rbac: it needs controllercanaries (+status)
// get/list/watch/patch, validatingadmissionpolicies, -bindings and
// validatingwebhookconfigurations create/update/delete, list/patch of the
// canary's resources, and impersonate on the canary's user or
// ServiceAccount (the enforcement gate's dry-run write).
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
		Server: o.Server, Recorder: mgr.GetEventRecorder(ControllerName), Clock: clk,
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
