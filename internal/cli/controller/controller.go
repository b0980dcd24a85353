// Package controller is `handover controller`: the controller-runtime manager
// that runs the CertificateAuthority controller (package
// internal/controller/certificateauthority) with leader election, Prometheus
// metrics and health probes. It is what deploy/manifests and the Helm chart
// run in the cluster.
package controller

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/handover-dev/handover/internal/cli/kubeflags"
)

// DefaultLeaderElectionID is the name of the coordination.k8s.io Lease the
// replicas compete for.
const DefaultLeaderElectionID = "handover-controller.handover.dev"

// DefaultLeaderElectionNamespace is the Lease's namespace, in and out of a
// cluster alike (deploy/manifests runs the controller there): a controller
// started from a laptop competes for the same Lease as the in-cluster
// replicas instead of leading beside them. The Helm chart passes its
// release namespace explicitly.
const DefaultLeaderElectionNamespace = "handover-system"

// Options are the inputs of `handover controller`.
type Options struct {
	Kube kubeflags.Flags
	// MetricsAddr serves /metrics (Prometheus text); "0" disables it.
	MetricsAddr string
	// MetricsSecure serves /metrics over HTTPS (a self-signed certificate
	// made in memory) and lets in only requests whose bearer token the
	// apiserver authenticates (TokenReview) and authorizes for GET on the
	// non-resource URL /metrics (SubjectAccessReview): controller-runtime's
	// filters.WithAuthenticationAndAuthorization, as kubebuilder scaffolds.
	MetricsSecure bool
	// ProbeAddr serves /healthz and /readyz; "0" disables it.
	ProbeAddr string
	// LeaderElect turns on leader election (a Lease); on by default so that
	// only one replica runs rotations.
	LeaderElect bool
	// LeaderElectionID is the Lease name.
	LeaderElectionID string
	// LeaderElectionNamespace is the Lease namespace
	// (DefaultLeaderElectionNamespace unless set, in and out of a cluster).
	LeaderElectionNamespace string
	// Namespaces, when set, restricts the controller to these namespaces: its
	// caches list and watch only there, so namespaced Roles suffice (the
	// chart's rbac.namespaces). Empty = every namespace (a ClusterRole).
	Namespaces []string
	// LeaseDuration, RenewDeadline, RetryPeriod tune leader election
	// (client-go leaderelection: 15s, 10s, 2s by default).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// QPS and Burst bound the controller's client-side request rate to the
	// apiserver (client-go's token bucket; its own default, 5 and 10, makes
	// 1,000 CertificateAuthorities wait minutes for their first publish).
	QPS   float32
	Burst int
	// GracefulShutdown bounds how long runnables get to stop on SIGTERM.
	GracefulShutdown time.Duration
	// Controller holds the CertificateAuthority controller's tunables.
	Controller ControllerOptions
	// Canary configures the ControllerCanary controller and its webhook.
	Canary CanaryOptions
	// Zap configures the logger (--zap-* flags).
	Zap zap.Options
	// Started, when set, is called once the manager is built, before it
	// starts (tests use it to learn the bound addresses).
	Started func(manager.Manager)
	// skipNameValidation lets tests run several managers in one process
	// (controller-runtime keeps controller names unique per process).
	skipNameValidation bool
}

// ControllerOptions are passed to the CertificateAuthority controller.
type ControllerOptions struct {
	// MaxConcurrentReconciles bounds parallel reconciles (default 1).
	MaxConcurrentReconciles int
	// PollInterval is how often a running rotation re-checks its gate.
	PollInterval time.Duration
	// Resync is the periodic reconcile of an unchanged object (inventory,
	// expiry metrics); 0 = 5m.
	Resync time.Duration
}

const longHelp = `Run the handover controller: a controller-runtime manager that reconciles
CertificateAuthority objects (handover.dev/v1alpha1) and runs their trust
rotations make-before-break, and ControllerCanary objects (a controller's
objects handed to its next version step by step; docs/canary.md), whose
validating webhook it serves on --canary-webhook-bind-address. Deploy it with deploy/manifests or the Helm chart
deploy/helm/handover; it runs anywhere a kubeconfig reaches the cluster too.

Leader election (on by default) uses a coordination.k8s.io Lease named
--leader-election-id in --leader-election-namespace (default handover-system,
in and out of a cluster, so a controller started from a laptop competes with
the in-cluster replicas instead of leading beside them; the namespace must
exist), so several replicas may run and only the leader acts; a new
leader resumes a rotation from status.rotation where the old one stopped. On
SIGTERM or SIGINT the manager stops its workers (a rotation's progress is
already checkpointed in status), releases the Lease and exits 0.

Endpoints (plain HTTP; /metrics over HTTPS behind Kubernetes authentication
and authorization with --metrics-secure, as the manifests and the chart run it):
  --metrics-bind-address       /metrics: controller-runtime's and handover's
                               metrics (handover_rotation_phase,
                               handover_consumers_converged,
                               handover_probe_handshake_failures_total,
                               handover_ca_expiry_seconds,
                               handover_access_reviews_total)
  --health-probe-bind-address  /healthz (liveness) and /readyz (readiness)

Logs are structured (zap, JSON by default; --zap-devel for console output).
--zap-log-level takes debug, info, error, panic or an integer N > 0, but no
V-level above 6 is ever emitted: client-go logs request headers at 7 and
request and response bodies (Secrets, i.e. private keys) from 8 on.
The kubeconfig is --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else
the in-cluster ServiceAccount. Needs the RBAC in config/rbac (ClusterRole
handover-manager, or with --namespaces the same rules as Roles in each of
them) plus a Role for Leases in the election namespace (docs/operator.md).`

const exampleHelp = `  # outside a cluster, against the sandbox
  handover controller --kubeconfig "$(handover sandbox kubeconfig)" --zap-devel

  # only CertificateAuthorities in two namespaces (per-namespace Roles suffice)
  handover controller --namespaces team-a,team-b

  # one replica, no leader election, metrics off
  handover controller --leader-elect=false --metrics-bind-address 0`

// NewCommand returns `handover controller`.
func NewCommand() *cobra.Command {
	o := &Options{
		MetricsAddr:             "127.0.0.1:8080",
		ProbeAddr:               ":8081",
		LeaderElect:             true,
		LeaderElectionID:        DefaultLeaderElectionID,
		LeaderElectionNamespace: DefaultLeaderElectionNamespace,
		LeaseDuration:           15 * time.Second,
		RenewDeadline:           10 * time.Second,
		RetryPeriod:             2 * time.Second,
		GracefulShutdown:        30 * time.Second,
		QPS:                     50,
		Burst:                   100,
		Controller:              ControllerOptions{MaxConcurrentReconciles: 1, PollInterval: 5 * time.Second},
		Canary:                  CanaryOptions{WebhookAddr: ":9443"},
	}
	cmd := &cobra.Command{
		Use:     "controller",
		Short:   "Run the CertificateAuthority and ControllerCanary controllers (leader election, metrics, health probes)",
		Long:    longHelp,
		Example: exampleHelp,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Canary.PodNamespace, o.Canary.PodName = os.Getenv("POD_NAMESPACE"), os.Getenv("POD_NAME")
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return run(ctx, o)
		},
	}
	f := cmd.Flags()
	o.Kube.AddFlags(f, false)
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, `address of the /metrics endpoint: loopback by default (plain HTTP without authentication); ":8443" with --metrics-secure serves every interface behind Kubernetes authentication (the manifests and the chart do); "0" disables it`)
	f.BoolVar(&o.MetricsSecure, "metrics-secure", o.MetricsSecure, "serve /metrics over HTTPS to bearer tokens the apiserver authenticates (TokenReview) and authorizes for GET /metrics (SubjectAccessReview; bind the ClusterRole handover-metrics-reader)")
	f.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, `address of /healthz and /readyz ("0" disables them)`)
	f.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "elect a leader with a Lease so only one replica rotates")
	f.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the leader election Lease")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the Lease, the same in and out of a cluster (it must exist)")
	f.StringSliceVar(&o.Namespaces, "namespaces", nil, "act only on CertificateAuthorities in these namespaces (comma-separated; caches are scoped to them, so namespaced Roles suffice); empty = all")
	f.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", o.LeaseDuration, "how long a non-leader waits before taking over an unrenewed Lease")
	f.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", o.RenewDeadline, "how long the leader retries renewing before it gives up leadership")
	f.DurationVar(&o.RetryPeriod, "leader-election-retry-period", o.RetryPeriod, "period between leader election attempts")
	f.DurationVar(&o.GracefulShutdown, "graceful-shutdown-timeout", o.GracefulShutdown, "how long workers get to stop on SIGTERM")
	f.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "requests per second the controller sends to the apiserver at most (client-side token bucket)")
	f.IntVar(&o.Burst, "kube-api-burst", o.Burst, "burst above --kube-api-qps")
	f.IntVar(&o.Controller.MaxConcurrentReconciles, "max-concurrent-reconciles", o.Controller.MaxConcurrentReconciles, "CertificateAuthority objects reconciled in parallel")
	f.DurationVar(&o.Controller.PollInterval, "poll-interval", o.Controller.PollInterval, "how often a running rotation re-checks its gate")
	f.StringVar(&o.Canary.WebhookAddr, "canary-webhook-bind-address", o.Canary.WebhookAddr, `address of the ControllerCanary validating webhook (HTTPS, certificate from a CA made at start); "0" disables the ControllerCanary controller`)
	f.StringVar(&o.Canary.WebhookService, "canary-webhook-service", o.Canary.WebhookService, `namespace/name[:port] of the Service in front of the canary webhook (port 443 by default), named in the webhook configurations; empty: https://<bind address>, which the apiserver must reach`)
	f.DurationVar(&o.Controller.Resync, "resync-period", 5*time.Minute, "how often an unchanged CertificateAuthority is reconciled again (undeclared-consumer inventory, expiry metrics); changes of what it depends on reconcile it at once")
	zfs := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.Zap.BindFlags(zfs)
	if lf := zfs.Lookup("zap-log-level"); lf != nil {
		lf.Usage = fmt.Sprintf("log level: debug, info, error, panic, or an integer N > 0 for V-levels up to N; "+
			"levels above %d are never emitted (client-go logs headers at 7 and Secret bodies, i.e. keys, from 8 on)", MaxLogVerbosity)
	}
	f.AddGoFlagSet(zfs)
	return cmd
}

// run builds the manager and blocks until ctx ends (SIGTERM) or the manager
// fails. It returns nil after a clean shutdown.
func run(ctx context.Context, o *Options) error {
	// Capped: client-go logs Secret bodies (keys) from V(8) on.
	log := capVerbosity(zap.New(zap.UseFlagOptions(&o.Zap)), MaxLogVerbosity)
	// controller-runtime's packages log through its global delegating logger;
	// without this they print a warning and drop their logs.
	ctrllog.SetLogger(log)
	mgr, err := newManager(o, log)
	if err != nil {
		return err
	}
	if err := registerCertificateAuthority(mgr, o.Controller); err != nil {
		return fmt.Errorf("register the CertificateAuthority controller: %w", err)
	}
	if err := registerControllerCanary(mgr, o.Canary, o.skipNameValidation); err != nil {
		return fmt.Errorf("register the ControllerCanary controller: %w", err)
	}
	if o.Started != nil {
		o.Started(mgr)
	}
	log.Info("starting manager", "leaderElect", o.LeaderElect, "leaderElectionID", o.LeaderElectionID,
		"metrics", o.MetricsAddr, "probes", o.ProbeAddr)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	log.Info("manager stopped")
	return nil
}

// newManager returns the manager the options describe, with /healthz and
// /readyz checks. Errors: ErrKubeconfig, a bad option, an unusable address.
func newManager(o *Options, log logr.Logger) (manager.Manager, error) {
	if o.LeaderElect && o.LeaderElectionID == "" {
		return nil, errors.New("flag --leader-election-id: empty with --leader-elect")
	}
	if o.LeaderElect && o.LeaderElectionNamespace == "" {
		return nil, errors.New("flag --leader-election-namespace: empty with --leader-elect")
	}
	// managedFields are never read; dropping them from every cached object
	// is most of a small object's size.
	cacheOpts := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if len(o.Namespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.Namespaces {
			if ns == "" {
				return nil, errors.New("flag --namespaces: empty namespace name")
			}
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	cfg, err := o.Kube.RESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	scheme, err := kubeflags.Scheme()
	if err != nil {
		return nil, err
	}
	lease, renew, retry, grace := o.LeaseDuration, o.RenewDeadline, o.RetryPeriod, o.GracefulShutdown
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                        scheme,
		Logger:                        log,
		Cache:                         cacheOpts,
		Controller:                    config.Controller{SkipNameValidation: &o.skipNameValidation},
		Metrics:                       metricsOptions(o),
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease,
		RenewDeadline:                 &renew,
		RetryPeriod:                   &retry,
		GracefulShutdownTimeout:       &grace,
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	// Ready once the informer caches have synced: before that, reconciles
	// would read an empty world.
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informer caches not synced")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return mgr, nil
}
