package backend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

// testStagedRotation runs the real staged plan (internal/rotation + the
// plan engine) through this backend on the cluster: a gateway with a probe
// (a local mTLS server that reads its leaf and trust bundle from the real
// Secret and ConfigMap on every handshake, i.e. hot reload), a hot consumer
// without probe, a RolloutRestart and an Evict consumer (with a PDB).
func testStagedRotation(t *testing.T, c client.Client) {
	ctx := t.Context()
	const ns = "staged"
	mkNamespace(t, c, ns)
	for _, name := range []string{"hot", "roll", "evict"} {
		if err := c.Create(ctx, deployment(ns, name, 2)); err != nil {
			t.Fatal(err)
		}
	}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "evict", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "evict"}}}}
	if err := c.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hot", "roll", "evict"} {
		waitPods(t, c, ns, name, 2, nil)
	}
	gw := startSecretServer(t, c, ns, "gateway-tls", "bundle")
	old, next := newCA(t, "old"), newCA(t, "next")
	spec := v1alpha1.CertificateAuthoritySpec{
		PropagationTimeout: v1alpha1.NewDuration(time.Second),
		TrustBundles:       []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "bundle"}},
		Certificates:       []v1alpha1.CertificateSpec{{SecretName: "gateway-tls", DNSNames: []string{"gateway.test"}}},
		Consumers: []v1alpha1.Consumer{
			{Name: "evict", Kind: "Deployment", WorkloadName: "evict", Reload: v1alpha1.ReloadEvict, Wave: 1},
			{Name: "gateway", Kind: "Deployment", WorkloadName: "hot", Reload: v1alpha1.ReloadHot,
				Probe: &v1alpha1.ConsumerProbe{Address: gw, ServerName: "gateway.test"}},
			{Name: "hot", Kind: "Deployment", WorkloadName: "hot", Reload: v1alpha1.ReloadHot},
			{Name: "roll", Kind: "Deployment", WorkloadName: "roll", Reload: v1alpha1.ReloadRolloutRestart},
		},
	}
	opts := Options{EvictionRetry: 300 * time.Millisecond, PollInterval: 200 * time.Millisecond, ProbeTimeout: 2 * time.Second}
	// The first publish, from the old CA (what the controller does on create).
	opts.Issuer = SpecIssuer(old, time.Now)
	first := mustNew(t, c, newCAObject(ns, spec), opts)
	if err := first.PublishTrustBundle(ctx, bundleOf(old)); err != nil {
		t.Fatal(err)
	}
	if err := first.PublishLeaves(ctx, nil); err != nil {
		t.Fatal(err)
	}

	opts.Issuer = SpecIssuer(next, time.Now)
	b := mustNew(t, c, newCAObject(ns, spec), opts)
	r, err := rotation.Build(rotation.StrategyStaged, rotation.Spec{
		Backend: b, Old: old, New: next, Propagation: time.Second, Grace: time.Second,
		StepTimeout: 2 * time.Minute, PollInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []string
	runner := &plan.Runner{Observers: []plan.Observer{plan.ObserverFunc(func(e plan.Event) {
		mu.Lock()
		events = append(events, fmt.Sprintf("%s %s %s", e.Kind, e.Step, e.Reason))
		mu.Unlock()
	})}}
	st, err := runner.Run(ctx, r.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeSucceeded {
		mu.Lock()
		t.Fatalf("outcome %s: %s\nevents:\n%q", st.Outcome, st.Reason, events)
	}
	t.Logf("staged rotation on the cluster: restart time %s (measured)", r.RestartTime().Round(time.Millisecond))

	// End state: bundle [next], the leaf chains to next, the gateway rejects
	// the old CA and presents a next leaf.
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bundle"}, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["ca.crt"] != string(bundleOf(next)) {
		t.Error("the final bundle is not [next]")
	}
	// The load-once consumers were restarted for the last publish (the drop
	// of the old CA).
	last := cm.Annotations[AnnotationPublishedAt]
	for name, get := range map[string]func(*appsv1.Deployment) string{
		"roll":  func(d *appsv1.Deployment) string { return d.Spec.Template.Annotations[AnnotationRestartedAt] },
		"evict": func(d *appsv1.Deployment) string { return d.Annotations[AnnotationEvictedFor] },
	} {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
			t.Fatal(err)
		}
		if got := get(&d); got != last {
			t.Errorf("%s restart marker %q, want the last publish %q", name, got, last)
		}
	}
	cons, err := b.Consumers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cn := range cons {
		if err := b.VerifyPresentsLeafFrom(ctx, cn, poolOf(bundleOf(next)), probeLeaf(t, next)); err != nil {
			t.Errorf("%s after the rotation: %v", cn.Name, err)
		}
		if err := b.VerifyAcceptsCA(ctx, cn, probeLeaf(t, old)); !errors.Is(err, ErrRejected) {
			t.Errorf("%s still accepts the old CA: %v", cn.Name, err)
		}
	}
}

// startSecretServer is a hot-reloading mTLS server on 127.0.0.1: every
// handshake reads tls.crt/tls.key from Secret leafSecret and the client CAs
// from ConfigMap bundleCM (key ca.crt) through the apiserver.
func startSecretServer(t *testing.T, c client.Client, ns, leafSecret, bundleCM string) string {
	t.Helper()
	base := &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		var s corev1.Secret
		var cm corev1.ConfigMap
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: leafSecret}, &s); err != nil {
			return nil, err
		}
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: bundleCM}, &cm); err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
		if err != nil {
			return nil, err
		}
		certs, err := trust.ParseCertificates([]byte(cm.Data["ca.crt"]))
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		for _, ca := range certs {
			pool.AddCert(ca)
		}
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.Certificates, cfg.ClientCAs = []tls.Certificate{cert}, pool
		return cfg, nil
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", base)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func(conn net.Conn) {
				defer wg.Done()
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				if err := conn.(*tls.Conn).Handshake(); err != nil {
					return
				}
				buf := make([]byte, 1)
				_, _ = conn.Read(buf)
			}(conn)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}
