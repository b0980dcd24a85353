package certificateauthority_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/controller/certificateauthority"
	"github.com/handover-dev/handover/internal/kube/backend"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/testenv"
)

// env is a real kube-apiserver with the CRD installed.
type env struct {
	cfg    *rest.Config
	scheme *runtime.Scheme
	c      client.Client
	etcd   *url.URL // the apiserver's storage (plain HTTP, loopback)
	// defaultResync runs managers with the controller's default resync
	// (5m) instead of 2s: a test that a change is noticed through a watch.
	defaultResync bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against a real kube-apiserver")
	}
	cfg, etcdURL := testenv.StartAPIServerEtcd(t)
	e := envOn(t, cfg)
	e.etcd = etcdURL
	return e
}

// envOn installs the CRDs on the apiserver of cfg and returns its env.
func envOn(t *testing.T, cfg *rest.Config) *env {
	t.Helper()
	scheme, c := certificateauthority.InstallForTest(t, cfg)
	return &env{cfg: cfg, scheme: scheme, c: c}
}

// startManager runs a real controller-runtime manager with Add and returns
// a stop function that waits for it to exit (also run at cleanup).
func (e *env) startManager(t *testing.T, cfg *rest.Config, leaderElection bool) (stop func()) {
	t.Helper()
	return e.startManagerWith(t, cfg, leaderElection, nil)
}

func (e *env) startManagerWith(t *testing.T, cfg *rest.Config, leaderElection bool, clk clock.Clock) (stop func()) {
	t.Helper()
	if cfg == nil {
		cfg = e.cfg
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                        e.scheme,
		Logger:                        zap.New(zap.UseDevMode(true), zap.WriteTo(testWriter{t})),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                leaderElection,
		LeaderElectionID:              "handover-controller-test",
		LeaderElectionNamespace:       "default",
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr.To(4 * time.Second),
		RenewDeadline:                 ptr.To(3 * time.Second),
		RetryPeriod:                   ptr.To(500 * time.Millisecond),
		Controller:                    config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	resync := 2 * time.Second
	if e.defaultResync {
		resync = 0
	}
	if err := certificateauthority.Add(mgr, certificateauthority.Options{
		Clock:        clk,
		PollInterval: 100 * time.Millisecond,
		Resync:       resync,
		Backend:      backend.Options{ProbeTimeout: 2 * time.Second, PollInterval: 100 * time.Millisecond},
	}); err != nil {
		t.Fatalf("add controller: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("manager: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("manager did not stop within 60s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	defer func() { _ = recover() }() // a log line after the test ended
	w.t.Log(string(p))
	return len(p), nil
}

func (e *env) namespace(t *testing.T, name string) {
	t.Helper()
	if err := e.c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// deployment creates a Deployment (envtest runs no controllers: it only
// has to exist for the consumer checks and the Hot reload path).
func (e *env) deployment(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/none"}}},
			},
		},
	}
	if err := e.c.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func (e *env) get(t *testing.T, ns, name string) *v1alpha1.CertificateAuthority {
	t.Helper()
	ca := &v1alpha1.CertificateAuthority{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ca); err != nil {
		t.Fatal(err)
	}
	return ca
}

// update applies mutate to the latest object, retrying on conflict.
func (e *env) update(t *testing.T, ns, name string, mutate func(*v1alpha1.CertificateAuthority)) {
	t.Helper()
	for {
		ca := e.get(t, ns, name)
		mutate(ca)
		err := e.c.Update(context.Background(), ca)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
}

// annotate sets one annotation on CertificateAuthority ns/name as cluster
// admin (a merge patch: never a conflict with the controller's writes).
func (e *env) annotate(t *testing.T, ns, name, key, value string) {
	t.Helper()
	e.annotateAs(t, e.c, ns, name, key, value)
}

// waitFor polls cond on the object every 100ms until it holds or timeout.
func (e *env) waitFor(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*v1alpha1.CertificateAuthority) bool) *v1alpha1.CertificateAuthority {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *v1alpha1.CertificateAuthority
	for time.Now().Before(deadline) {
		last = e.get(t, ns, name)
		if cond(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s/%s: %s not reached within %s; status: %+v; rotation: %+v", ns, name, what, timeout, last.Status, last.Status.Rotation)
	return nil
}

// waitDegraded waits until CertificateAuthority ns/name is Degraded (True)
// with reason for its current generation and returns the object as read
// then and its Degraded condition.
func (e *env) waitDegraded(t *testing.T, ns, name, reason string, timeout time.Duration) (*v1alpha1.CertificateAuthority, *metav1.Condition) {
	t.Helper()
	ca := e.waitFor(t, ns, name, timeout, "Degraded "+reason, func(ca *v1alpha1.CertificateAuthority) bool {
		d := condition(ca, v1alpha1.ConditionDegraded)
		return d != nil && d.Status == metav1.ConditionTrue && d.Reason == reason && d.ObservedGeneration == ca.Generation
	})
	return ca, condition(ca, v1alpha1.ConditionDegraded)
}

func condition(ca *v1alpha1.CertificateAuthority, typ string) *metav1.Condition {
	for i := range ca.Status.Conditions {
		if ca.Status.Conditions[i].Type == typ {
			return &ca.Status.Conditions[i]
		}
	}
	return nil
}

func isTrue(ca *v1alpha1.CertificateAuthority, typ string) bool {
	c := condition(ca, typ)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == ca.Generation
}

func ready(ca *v1alpha1.CertificateAuthority) bool {
	return isTrue(ca, v1alpha1.ConditionReady) && ca.Status.ObservedGeneration == ca.Generation
}

// rotated: a rotation to a CA other than from ended Succeeded and the object is Ready.
func rotatedFrom(from string) func(*v1alpha1.CertificateAuthority) bool {
	return func(ca *v1alpha1.CertificateAuthority) bool {
		r := ca.Status.Rotation
		return ready(ca) && r != nil && r.Outcome == "Succeeded" && ca.Status.Active != nil &&
			ca.Status.Active.Fingerprint != from && r.Target == ca.Status.Active.Fingerprint
	}
}

// mount mirrors a Secret's data like the kubelet: it polls the Secret and
// exposes each new version only after delay.
type mount struct {
	mu   sync.Mutex
	data map[string][]byte
}

func startMount(t *testing.T, c client.Client, ns, name string, delay time.Duration) *mount {
	t.Helper()
	return startMountOf(t, delay, func(ctx context.Context) (map[string][]byte, bool) {
		s := &corev1.Secret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			return nil, false
		}
		return s.Data, true
	})
}

// startMountOf polls read every 50ms and exposes each new version of its
// data after delay.
func startMountOf(t *testing.T, delay time.Duration, read func(context.Context) (map[string][]byte, bool)) *mount {
	t.Helper()
	m := &mount{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		var seen map[string][]byte
		for ctx.Err() == nil {
			if data, ok := read(ctx); ok && !reflect.DeepEqual(data, seen) {
				seen = data
				time.AfterFunc(delay, func() { m.mu.Lock(); m.data = data; m.mu.Unlock() })
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return m
}

func (m *mount) material() (*tls.Certificate, *x509.CertPool, error) {
	m.mu.Lock()
	d := m.data
	m.mu.Unlock()
	if d == nil {
		return nil, nil, errors.New("nothing mounted yet")
	}
	cert, err := tls.X509KeyPair(d["tls.crt"], d["tls.key"])
	if err != nil {
		return nil, nil, fmt.Errorf("mounted key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(d["ca.crt"]) {
		return nil, nil, errors.New("mounted ca.crt holds no certificate")
	}
	return &cert, pool, nil
}

// serveMTLS runs a hot-reloading mTLS server on loopback that reads its
// leaf and client CAs from m on every handshake (like Envoy SDS) and
// returns its address.
func serveMTLS(t *testing.T, m *mount) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	cfg := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool, err := m.material()
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{*cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}, nil
	}}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = conn.Close() }()
				_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
				tc := tls.Server(conn, cfg)
				if tc.Handshake() != nil {
					return
				}
				_, _ = io.Copy(io.Discard, tc)
			}()
		}
	}()
	return ln.Addr().String()
}

// traffic is a client that dials addr every 20ms with the leaf and trust it
// mounts; it counts handshakes and failures (after it first succeeded).
type traffic struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	lastErr    error
}

func startTraffic(t *testing.T, addr, serverName string, m *mount) *traffic {
	t.Helper()
	tr := &traffic{}
	p := &probe.MTLS{
		Addr: addr, ServerName: serverName,
		GetClientCertificate: func() (*tls.Certificate, error) { c, _, err := m.material(); return c, err },
		GetRootCAs:           func() (*x509.CertPool, error) { _, p, err := m.material(); return p, err },
		ConfirmWait:          100 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			err := p.Once(actx)
			acancel()
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				tr.ok.Add(1)
			case tr.ok.Load() > 0:
				tr.failed.Add(1)
				tr.mu.Lock()
				tr.lastErr = err
				tr.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return tr
}

// waitFlowing waits until tr's first handshake succeeded (at most 30s).
func (tr *traffic) waitFlowing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ok, _, _ := tr.snapshot(); ok == 0; ok, _, _ = tr.snapshot() {
		if time.Now().After(deadline) {
			_, _, last := tr.snapshot()
			t.Fatalf("live traffic never succeeded: %v", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tr *traffic) snapshot() (ok, failed int64, last error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.ok.Load(), tr.failed.Load(), tr.lastErr
}
