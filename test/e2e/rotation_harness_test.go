package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/kube/backend"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/kubeletsim"
)

// rotationWait bounds one rotation (or revert) in the e2e tests.
const rotationWait = 150 * time.Second

// rotationController installs the CRDs and runs the CertificateAuthority
// controller in-process (no leader election, short timings) until the test
// ends. It returns a controller-runtime client with the handover scheme.
func rotationController(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	testenv.InstallCRDs(t, cfg)
	scheme, err := kubeflags.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stopped := false
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Logf("controller: %s %s", prefix, args)
		}
	}, funcr.Options{Verbosity: 1})
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                 scheme,
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		// Several tests of this package each run their own controller in
		// this process; the names are unique per manager.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	if err := certificateauthority.Add(mgr, certificateauthority.Options{
		PollInterval: 200 * time.Millisecond,
		Resync:       time.Minute,
		Backend: backend.Options{
			ProbeTimeout:  2 * time.Second,
			EvictionRetry: 500 * time.Millisecond,
			PollInterval:  200 * time.Millisecond,
		},
	}); err != nil {
		t.Fatalf("add controller: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller manager: %v", err)
		}
		mu.Lock()
		stopped = true
		mu.Unlock()
	})
	return mgr.GetClient()
}

// rotationFleet is one namespace of the rotation e2e: two consumer
// Deployments on kwok nodes, their leaf Secrets, a client Secret, the
// simulator serving them and probe clients.
type rotationFleet struct {
	ns         string
	cs         kubernetes.Interface
	c          client.Client
	sim        *kubeletsim.Sim
	services   map[string]string // app → Service address
	clientLeaf *kubeletsim.Mount
	// wait bounds one rotation or revert (0 = rotationWait).
	wait time.Duration
	// propagation and grace are the CertificateAuthority's
	// spec.propagationTimeout and spec.gracePeriod (0 = 2 s).
	propagation, grace time.Duration
}

const (
	gatewayName   = "gateway"   // load-once, reload Evict, PDB minAvailable 2
	ratelimitName = "ratelimit" // load-once, reload RolloutRestart
	// edgeName is a hot-reload consumer. The staged plan's first gate
	// verifies hot-reload consumers only and fails when there is none
	// (rotation.Gate on an empty list), so a CA with load-once consumers
	// only cannot rotate; see the report of this test's author.
	edgeName     = "edge"
	clientSecret = "probe-client-tls"
	caName       = "mesh"
)

// rotationApps are the consumer Deployments: replicas and reload mode.
var rotationApps = []struct {
	name     string
	replicas int32
	reload   kubeletsim.Reload
	policy   v1alpha1.ReloadPolicy
}{
	{gatewayName, 3, kubeletsim.ReloadLoadOnce, v1alpha1.ReloadEvict},
	{ratelimitName, 2, kubeletsim.ReloadLoadOnce, v1alpha1.ReloadRolloutRestart},
	{edgeName, 2, kubeletsim.ReloadHot, v1alpha1.ReloadHot},
}

func serverNameOf(app, ns string) string { return app + "." + ns + ".svc" }

func tlsSecretOf(app string) string { return app + "-tls" }

// rotationDeployment is a consumer mounting its leaf Secret.
func rotationDeployment(name string, replicas int32, reload kubeletsim.Reload) *appsv1.Deployment {
	d := testenv.KwokDeployment("", name, replicas)
	tmpl := &d.Spec.Template
	tmpl.Annotations = map[string]string{kubeletsim.AnnotationReload: string(reload)}
	tmpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/tls", ReadOnly: true}}
	tmpl.Spec.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: tlsSecretOf(name)}}}}
	return d
}

// setupRotationFleet creates the namespace, the Deployments and the
// gateway's PodDisruptionBudget (minAvailable 2), starts the simulator
// (propagation up to maxDelay) with a Service per Deployment, then the
// CertificateAuthority (generate source, leaves for both consumers and the
// probe client, consumers gateway Evict and ratelimit RolloutRestart with
// probes at the Services) and waits for its first publish and every pod's
// server.
func setupRotationFleet(t *testing.T, cfg *rest.Config, c client.Client, ns string, mode v1alpha1.Mode, seed uint64, maxDelay time.Duration) *rotationFleet {
	t.Helper()
	return setupRotationFleetWith(t, cfg, c, ns, mode, seed, maxDelay, 2*time.Second, 2*time.Second)
}

// setupRotationFleetWith is setupRotationFleet with the CertificateAuthority's
// spec.propagationTimeout and spec.gracePeriod.
func setupRotationFleetWith(t *testing.T, cfg *rest.Config, c client.Client, ns string, mode v1alpha1.Mode, seed uint64, maxDelay, propagation, grace time.Duration) *rotationFleet {
	t.Helper()
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, a := range rotationApps {
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, rotationDeployment(a.name, a.replicas, a.reload), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testenv.MinAvailableBudget("", gatewayName, 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	simCtx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	stopped := false
	sim, err := kubeletsim.Start(simCtx, kubeletsim.Options{
		Config: cfg, Namespace: ns, Dir: t.TempDir(), MaxDelay: maxDelay, Seed: seed,
		Logf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if !stopped {
				t.Logf(format, args...)
			}
		},
	})
	if err != nil {
		cancel()
		t.Fatalf("kubeletsim: %v", err)
	}
	t.Cleanup(func() {
		sim.Close()
		cancel()
		mu.Lock()
		stopped = true
		mu.Unlock()
	})
	f := &rotationFleet{ns: ns, cs: cs, c: c, sim: sim, services: map[string]string{}, propagation: propagation, grace: grace}
	var certs []v1alpha1.CertificateSpec
	var consumers []v1alpha1.Consumer
	for _, a := range rotationApps {
		addr, err := sim.AddService(ns, a.name, map[string]string{"app": a.name})
		if err != nil {
			t.Fatal(err)
		}
		f.services[a.name] = addr
		name := serverNameOf(a.name, ns)
		certs = append(certs, v1alpha1.CertificateSpec{SecretName: tlsSecretOf(a.name), CommonName: name, DNSNames: []string{name}})
		consumers = append(consumers, v1alpha1.Consumer{
			Name: a.name, Kind: v1alpha1.WorkloadKind("Deployment"), WorkloadName: a.name, Reload: a.policy,
			Probe: &v1alpha1.ConsumerProbe{Address: addr, ServerName: name},
		})
	}
	if f.clientLeaf, err = sim.MountSecret(ns, clientSecret); err != nil {
		t.Fatal(err)
	}
	f.createCA(t, mode, certs, consumers)
	for _, a := range rotationApps {
		f.waitEndpoints(t, a.name, int(a.replicas))
	}
	poll(ctx, t, "the probe client's mount", func() (bool, error) {
		_, err := f.clientLeaf.Certificate()
		return err == nil, err
	})
	return f
}

// createCA creates the fleet's CertificateAuthority (generated CA, the
// consumers' leaves plus the probe client's, the fleet's propagation timeout
// and grace, 2 s where unset) and waits for its first publish.
func (f *rotationFleet) createCA(t *testing.T, mode v1alpha1.Mode, certs []v1alpha1.CertificateSpec, consumers []v1alpha1.Consumer) {
	t.Helper()
	ns := f.ns
	certs = append(certs, v1alpha1.CertificateSpec{SecretName: clientSecret, CommonName: "probe-client." + ns, DNSNames: []string{"probe-client." + ns}})
	propagation, grace := f.propagation, f.grace
	if propagation == 0 {
		propagation = 2 * time.Second
	}
	if grace == 0 {
		grace = 2 * time.Second
	}
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: caName, Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Mode:               mode,
			Source:             v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{CommonName: "mesh-" + ns}},
			Certificates:       certs,
			Consumers:          consumers,
			PropagationTimeout: v1alpha1.NewDuration(propagation),
			GracePeriod:        v1alpha1.NewDuration(grace),
		},
	}
	if err := f.c.Create(t.Context(), ca); err != nil {
		t.Fatalf("create CertificateAuthority: %v", err)
	}
	first := f.waitCA(t, "first publish", func(ca *v1alpha1.CertificateAuthority) (bool, error) {
		return ca.Status.Active != nil && ready(ca), nil
	})
	t.Logf("%s: first publish done, active CA %s", ns, first.Status.Active.Fingerprint)
}

func ready(ca *v1alpha1.CertificateAuthority) bool {
	c := meta.FindStatusCondition(ca.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == ca.Generation
}

func poll(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitLimit, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last: %v)", what, err, last)
	}
}

// waitEndpoints waits until app's Service balances over n pod servers.
func (f *rotationFleet) waitEndpoints(t *testing.T, app string, n int) {
	t.Helper()
	poll(t.Context(), t, fmt.Sprintf("%s/%s Service with %d endpoints", f.ns, app, n), func() (bool, error) {
		eps, err := f.sim.ServiceEndpoints(f.ns, app)
		return len(eps) == n, err
	})
}

// errRotationEnded stops a wait when the rotation ended other than wanted.
var errRotationEnded = errors.New("rotation ended")

// waitCA polls the CertificateAuthority until cond holds (f.wait).
func (f *rotationFleet) waitCA(t *testing.T, what string, cond func(*v1alpha1.CertificateAuthority) (bool, error)) *v1alpha1.CertificateAuthority {
	t.Helper()
	var ca v1alpha1.CertificateAuthority
	limit := f.wait
	if limit == 0 {
		limit = rotationWait
	}
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, limit, true, func(ctx context.Context) (bool, error) {
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: caName}, &ca); err != nil {
			return false, nil
		}
		return cond(&ca)
	})
	if err != nil {
		t.Fatalf("%s: waiting for %s: %v\nstatus: %s", f.ns, what, err, describeStatus(&ca))
	}
	return &ca
}

func describeStatus(ca *v1alpha1.CertificateAuthority) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%q converged=%q queued=%q", ca.Status.Phase, ca.Status.ConsumersConverged, ca.Status.Queued)
	for _, c := range ca.Status.Conditions {
		fmt.Fprintf(&b, "\n  condition %s=%s reason=%s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
	if r := ca.Status.Rotation; r != nil {
		fmt.Fprintf(&b, "\n  rotation trigger=%s target=%s phase=%s outcome=%q reason=%q rollback=%q", r.Trigger, r.Target, r.Phase, r.Outcome, r.Reason, r.RollbackReason)
		for _, s := range r.Steps {
			fmt.Fprintf(&b, "\n    step %s: %s %s", s.Name, s.Phase, s.Reason)
		}
	}
	return b.String()
}

// annotate sets one annotation on the CertificateAuthority (merge patch).
func (f *rotationFleet) annotate(t *testing.T, key, value string) {
	t.Helper()
	ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: caName}}
	if err := testenv.Annotate(t.Context(), f.c, ca, key, value); err != nil {
		t.Fatalf("annotate %s=%s: %v", key, value, err)
	}
}

// waitRotated waits until a rotation with trigger to a CA other than from
// succeeded and the object is Ready again; another outcome fails the test.
func (f *rotationFleet) waitRotated(t *testing.T, trigger, from string) *v1alpha1.CertificateAuthority {
	t.Helper()
	return f.waitCA(t, trigger+" rotation to succeed", func(ca *v1alpha1.CertificateAuthority) (bool, error) {
		r := ca.Status.Rotation
		if r == nil || r.Trigger != trigger || r.Target == from {
			return false, nil
		}
		switch r.Outcome {
		case "":
			return false, nil
		case "Succeeded":
			return ready(ca) && ca.Status.Active != nil && ca.Status.Active.Fingerprint == r.Target, nil
		}
		return false, fmt.Errorf("%w: outcome %s: %s", errRotationEnded, r.Outcome, r.Reason)
	})
}

// probeClients runs one mTLS probe Runner per Service until stop is called,
// presenting the client leaf from the probe client's mount and trusting its
// ca.crt (both re-read per attempt), into rec.
func (f *rotationFleet) probeClients(rec *probe.Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for app, addr := range f.services {
		r := &probe.Runner{
			Probe: &probe.MTLS{
				Addr: addr, ServerName: serverNameOf(app, f.ns),
				GetClientCertificate: f.clientLeaf.Certificate,
				GetRootCAs:           f.clientLeaf.RootCAs,
				Request:              kubeletsim.Request,
				ProbeName:            "mtls-" + app,
			},
			Target:      app,
			Rate:        30,
			Concurrency: 4,
			Timeout:     2 * time.Second,
			Sink:        rec,
		}
		wg.Go(func() { _ = r.Run(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}

// podWatch follows one Deployment's pods for the whole test: every UID seen
// and the lowest number of Ready, non-terminating pods after arm().
type podWatch struct {
	mu       sync.Mutex
	ready    map[types.UID]bool
	seen     map[types.UID]bool
	armed    bool
	minReady int
	stop     context.CancelFunc
}

func (f *rotationFleet) watchPods(t *testing.T, app string) *podWatch {
	t.Helper()
	w := &podWatch{ready: map[types.UID]bool{}, seen: map[types.UID]bool{}, minReady: -1}
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	fac := informers.NewSharedInformerFactoryWithOptions(f.cs, 0, informers.WithNamespace(f.ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "app=" + app }))
	inf := fac.Core().V1().Pods().Informer()
	update := func(o any, gone bool) {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		p, ok := o.(*corev1.Pod)
		if !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.seen[p.UID] = true
		if gone || !podReady(*p) {
			delete(w.ready, p.UID)
		} else {
			w.ready[p.UID] = true
		}
		if w.armed && (w.minReady < 0 || len(w.ready) < w.minReady) {
			w.minReady = len(w.ready)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { update(o, false) },
		UpdateFunc: func(_, o any) { update(o, false) },
		DeleteFunc: func(o any) { update(o, true) },
	}); err != nil {
		t.Fatal(err)
	}
	fac.Start(ctx.Done())
	if !cache.WaitForCacheSync(t.Context().Done(), inf.HasSynced) {
		t.Fatal("pod watch did not sync")
	}
	t.Cleanup(func() { cancel(); fac.Shutdown() })
	return w
}

// arm starts tracking the minimum from the current Ready count.
func (w *podWatch) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = true
	w.minReady = len(w.ready)
}

// snapshot returns the UIDs of the pods Ready now and the minimum so far.
func (w *podWatch) snapshot() (readyNow []types.UID, minReady, seen int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for u := range w.ready {
		readyNow = append(readyNow, u)
	}
	sort.Slice(readyNow, func(i, j int) bool { return readyNow[i] < readyNow[j] })
	return readyNow, w.minReady, len(w.seen)
}

// liveUIDs returns the UIDs of app's pods that exist now.
func (f *rotationFleet) liveUIDs(t *testing.T, app string) map[types.UID]bool {
	t.Helper()
	pods, err := listPods(t.Context(), f.cs, f.ns, app)
	if err != nil {
		t.Fatal(err)
	}
	out := map[types.UID]bool{}
	for _, p := range pods {
		out[p.UID] = true
	}
	return out
}
