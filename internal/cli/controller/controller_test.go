package controller

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/testenv"
)

func TestHelpTeaches(t *testing.T) {
	t.Parallel()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--metrics-bind-address", "--health-probe-bind-address", "--leader-elect ",
		"--leader-election-namespace", "--kubeconfig", "--zap-log-level", "/readyz", "SIGTERM", "handover_rotation_phase"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// freeAddr is testenv.FreeLoopbackAddr.
func freeAddr(t *testing.T) string { return testenv.FreeLoopbackAddr(t) }

func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	return testenv.WriteKubeconfig(t, cfg, "")
}

func httpGet(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// eventually polls f until it returns nil or ctx ends.
func eventually(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestManagerRuns starts `handover controller` against a real apiserver with
// the CRD installed: it takes the Lease, serves /healthz, /readyz and
// /metrics, registers the controller, and on cancel (what SIGTERM does)
// stops cleanly and releases the Lease.
func TestManagerRuns(t *testing.T) {
	cfg, c := apiServerWithCRD(t)
	kubeconfig := writeKubeconfig(t, cfg)

	t.Run("leader election needs a namespace outside a cluster", func(t *testing.T) {
		o := &Options{Kube: kubeflags.Flags{Kubeconfig: kubeconfig}, MetricsAddr: "0", ProbeAddr: "0",
			LeaderElect: true, LeaderElectionID: "x"}
		o.Zap.DestWriter = io.Discard
		err := run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "namespace") {
			t.Fatalf("got %v, want an error about the leader election namespace", err)
		}
	})

	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	registered := make(chan struct{}, 1)
	o := &Options{
		Kube:                    kubeflags.Flags{Kubeconfig: kubeconfig},
		MetricsAddr:             metricsAddr,
		ProbeAddr:               probeAddr,
		LeaderElect:             true,
		LeaderElectionID:        "handover-test",
		LeaderElectionNamespace: "default",
		LeaseDuration:           15 * time.Second,
		RenewDeadline:           10 * time.Second,
		RetryPeriod:             time.Second,
		GracefulShutdown:        10 * time.Second,
		Controller:              ControllerOptions{MaxConcurrentReconciles: 1, PollInterval: time.Second},
	}
	o.Zap.DestWriter = io.Discard
	o.Started = func(manager.Manager) { registered <- struct{}{} }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, o) }()

	wait, waitCancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer waitCancel()
	select {
	case <-registered:
	case err := <-done:
		t.Fatalf("run returned before starting: %v", err)
	case <-wait.Done():
		t.Fatal("manager never started")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if err := eventually(wait, func() error {
			code, body, err := httpGet(wait, "http://"+probeAddr+path)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("GET %s: %d %q %w", path, code, body, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	lease := &coordinationv1.Lease{}
	if err := eventually(wait, func() error {
		if err := c.Get(wait, client.ObjectKey{Namespace: "default", Name: "handover-test"}, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return fmt.Errorf("lease has no holder")
		}
		return nil
	}); err != nil {
		t.Fatalf("leader election: %v", err)
	}
	// The registered controller reconciles: a generate-mode CA gets its
	// first CA and a status, and handover's metrics appear.
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "smoke"},
		Spec:       v1alpha1.CertificateAuthoritySpec{Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{CommonName: "smoke CA"}}},
	}
	if err := c.Create(wait, ca); err != nil {
		t.Fatal(err)
	}
	if err := eventually(wait, func() error {
		if err := c.Get(wait, client.ObjectKeyFromObject(ca), ca); err != nil {
			return err
		}
		if ca.Status.Active == nil || len(ca.Status.Conditions) == 0 {
			return fmt.Errorf("status not written yet: %+v", ca.Status)
		}
		return nil
	}); err != nil {
		t.Fatalf("controller did not reconcile: %v", err)
	}
	if err := eventually(wait, func() error {
		code, body, err := httpGet(wait, "http://"+metricsAddr+"/metrics")
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("GET /metrics: %d %w", code, err)
		}
		for _, m := range []string{"leader_election_master_status", "handover_rotation_phase", "handover_ca_expiry_seconds"} {
			if !strings.Contains(body, m) {
				return fmt.Errorf("/metrics lacks %s", m)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-wait.Done():
		t.Fatal("manager did not stop after cancel")
	}
	if err := c.Get(wait, client.ObjectKey{Namespace: "default", Name: "handover-test"}, lease); err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("lease still held by %q after shutdown (want released)", *h)
	}
}

// TestLeaseNamespaceDefault: without --leader-election-namespace the Lease
// lives in handover-system in and out of a cluster (the namespace
// deploy/manifests installs into), so a laptop controller competes with
// the in-cluster replicas.
func TestLeaseNamespaceDefault(t *testing.T) {
	t.Parallel()
	cmd := NewCommand()
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("leader-election-namespace").Value.String(); got != "handover-system" {
		t.Errorf("--leader-election-namespace defaults to %q, want handover-system", got)
	}
}

// TestSecondControllerNeverActs: while another identity holds the Lease, a
// controller started with the defaults (Lease in handover-system) writes
// nothing for a new CertificateAuthority: no status, no managed copy. Once
// the Lease is released it takes the lock and acts.
func TestSecondControllerNeverActs(t *testing.T) {
	cfg, c := apiServerWithCRD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultLeaderElectionNamespace}}); err != nil {
		t.Fatal(err)
	}
	holder, now := "the-in-cluster-leader", metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: DefaultLeaderElectionNamespace, Name: DefaultLeaderElectionID},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: &now, RenewTime: &now},
	}
	if err := c.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}

	// The defaults of NewCommand (TestLeaseNamespaceDefault) for the Lease.
	o := &Options{
		Kube: kubeflags.Flags{Kubeconfig: writeKubeconfig(t, cfg)}, MetricsAddr: "0", ProbeAddr: "0",
		LeaderElect: true, LeaderElectionID: DefaultLeaderElectionID, LeaderElectionNamespace: DefaultLeaderElectionNamespace,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 500 * time.Millisecond,
		GracefulShutdown: 10 * time.Second, Controller: ControllerOptions{MaxConcurrentReconciles: 1, PollInterval: time.Second},
		skipNameValidation: true,
	}
	o.Zap.DestWriter = io.Discard
	done := startRun(ctx, t, o)
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "waiting"},
		Spec:       v1alpha1.CertificateAuthoritySpec{Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}}},
	}
	if err := c.Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	// A controller that acted without the lock would have written within
	// a few retry periods.
	time.Sleep(5 * time.Second)
	if err := c.Get(ctx, client.ObjectKeyFromObject(ca), ca); err != nil {
		t.Fatal(err)
	}
	if len(ca.Status.Conditions) != 0 || ca.Status.Active != nil {
		t.Fatalf("the controller without the Lease wrote status: %+v", ca.Status)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "waiting-handover-ca"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the controller without the Lease wrote the managed copy (get: %v)", err)
	}
	if done.stopped() {
		t.Fatal("controller stopped while waiting for the Lease")
	}

	// The leader goes away (releases the Lease): this controller takes over and acts.
	if err := c.Delete(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if err := eventually(ctx, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(ca), ca); err != nil {
			return err
		}
		if ca.Status.Active == nil {
			return fmt.Errorf("not published yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("after the Lease was released: %v", err)
	}
}

// running is a `handover controller` run in a goroutine.
type running struct {
	stop func()
	done chan struct{}
	err  error
}

// startRun runs run(ctx, o) until the test ends (or stop); a run that
// returns an error other than at stop fails the test at cleanup.
func startRun(ctx context.Context, t *testing.T, o *Options) *running {
	t.Helper()
	runCtx, stop := context.WithCancel(ctx)
	r := &running{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(runCtx, o)
	}()
	t.Cleanup(func() {
		stop()
		<-r.done
		if r.err != nil {
			t.Errorf("controller: %v", r.err)
		}
	})
	return r
}

// stopped reports whether the run has returned.
func (r *running) stopped() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// apiServerWithCRD starts a real apiserver with handover's CRD installed
// and returns its admin config and a client.
func apiServerWithCRD(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	cfg := testenv.StartAPIServer(t)
	testenv.InstallCRDs(t, cfg)
	c, err := kubeflags.Client(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}
