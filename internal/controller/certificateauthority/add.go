package certificateauthority

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/kube/backend"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// ControllerName names the controller, its event reporter and its logger.
const ControllerName = "handover-certificateauthority"

// Options tune Add; the zero value is production defaults.
type Options struct {
	// Clock is injected into the reconciler, the plans and the backend;
	// nil = the real clock.
	Clock clock.Clock
	// PollInterval is the wait between two gate checks of a rotation's plan;
	// 0 = the engine's default (200ms).
	PollInterval time.Duration
	// MaxConcurrentReconciles; 0 = 1.
	MaxConcurrentReconciles int
	// Resync is the periodic reconcile (consumer inventory, expiry metrics);
	// 0 = 5m.
	Resync time.Duration
	// Backend options of the Kubernetes backend (probe timeout, eviction
	// retry, rollout poll interval); Clock is set from Options.Clock.
	Backend backend.Options
	// NewBackend overrides the rotation backend; nil = internal/kube/backend.
	NewBackend BackendFactory
}

// Add registers the CertificateAuthority reconciler, the
// ClusterCertificateAuthority reconciler (ClusterReconciler), the leader-elected
// rotation Workers and the metrics (on controller-runtime's
// metrics.Registry) with mgr. The scheme of mgr must hold v1alpha1, core
// and apps. Errors: a metric or the controller could not be registered.
func Add(mgr manager.Manager, opts Options) error {
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	log := mgr.GetLogger().WithName(ControllerName)
	workers := NewWorkers(clk, log)
	if err := mgr.Add(workers); err != nil {
		return fmt.Errorf("add rotation workers: %w", err)
	}
	metrics, err := NewMetrics(crmetrics.Registry)
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	newBackend := opts.NewBackend
	if newBackend == nil {
		bopts := opts.Backend
		bopts.Clock = clk
		if bopts.Reader == nil {
			bopts.Reader = mgr.GetAPIReader()
		}
		if bopts.Log.GetSink() == nil {
			bopts.Log = log.WithName("backend")
		}
		newBackend = KubeBackend(bopts)
	}
	c, err := dataClient(mgr)
	if err != nil {
		return err
	}
	r := &Reconciler{
		Client: c, APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder(ControllerName), Clock: clk,
		Workers: workers, Metrics: metrics, NewBackend: newBackend,
		PollInterval: opts.PollInterval, Resync: opts.Resync,
		Metadata: mgr.GetCache(), Access: NewAccessCache(DefaultAccessPolicy, clk, SelfReviewer(c)),
	}
	if err := registerAccessMetrics(crmetrics.Registry, r.Access); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	cr := &ClusterReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder(ControllerName), Clock: clk}
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("clustercertificateauthority").
		For(&v1alpha1.ClusterCertificateAuthority{}).
		Owns(&v1alpha1.CertificateAuthority{}).
		Complete(cr); err != nil {
		return fmt.Errorf("add the ClusterCertificateAuthority controller: %w", err)
	}
	if err := indexes(context.Background(), mgr); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("certificateauthority").
		For(&v1alpha1.CertificateAuthority{})
	return r.addWatches(b, mgr.GetCache()).
		WatchesRawSource(source.Channel(workers.Events(), &handler.TypedEnqueueRequestForObject[*v1alpha1.CertificateAuthority]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, opts.MaxConcurrentReconciles)}).
		Complete(r)
}

// KubeBackend is the BackendFactory of internal/kube/backend: leaves honour
// every field of spec.certificates (backend.SpecIssuer).
func KubeBackend(opts backend.Options) BackendFactory {
	return func(c client.Client, ca *v1alpha1.CertificateAuthority, issuer *trust.CA) (rotation.Backend, error) {
		o := opts
		// A namespaced CertificateAuthority acts in its namespace only; the
		// run-as object of a ClusterCertificateAuthority passed
		// ClusterSanctioned in the reconcile that built this backend.
		o.OwnNamespaceOnly = !runsForCluster(ca)
		now := time.Now
		if o.Clock != nil {
			now = o.Clock.Now
		}
		o.Issuer = backend.SpecIssuer(issuer, now)
		b, err := backend.New(c, ca, o)
		if err != nil {
			return nil, err
		}
		return withCertManager(c, ca, issuer, now, b), nil
	}
}

// dataClient is mgr's client with Secrets and ConfigMaps read from the API,
// not from an informer: the controller never caches their data (10,000
// Secrets of other owners would be held in memory). Their metadata is
// watched (watch.go) and read from mgr's cache; every other kind is read
// from the cache as with mgr.GetClient().
func dataClient(mgr manager.Manager) (client.Client, error) {
	c, err := client.New(mgr.GetConfig(), client.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		Cache: &client.CacheOptions{Reader: mgr.GetCache(), DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}},
	})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return c, nil
}
