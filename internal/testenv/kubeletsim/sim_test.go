package kubeletsim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/kubeletsim"
	"github.com/handover-dev/handover/internal/trust"
)

const (
	waitLimit  = 60 * time.Second
	serverName = "sim.test"
)

func newCA(t *testing.T, name string) *trust.CA {
	t.Helper()
	ca, err := trust.NewCA(trust.CAOptions{CommonName: name}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *trust.CA, cn string) *trust.Leaf {
	t.Helper()
	l, err := ca.IssueLeaf(trust.LeafOptions{CommonName: cn, DNSNames: []string{serverName}, Usage: trust.UsageServer | trust.UsageClient}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tlsData is a kubernetes.io/tls Secret's data: a leaf from ca with the given bundle.
func tlsData(t *testing.T, ca *trust.CA, cn string, bundle ...*trust.CA) map[string][]byte {
	t.Helper()
	l := issue(t, ca, cn)
	var b []byte
	for _, c := range bundle {
		b = append(b, c.CertPEM...)
	}
	return map[string][]byte{"tls.crt": l.ChainPEM, "tls.key": l.KeyPEM, "ca.crt": b}
}

func deployment(name string, replicas int32, reload kubeletsim.Reload, secret string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{kubeletsim.AnnotationReload: string(reload)}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"type": "kwok"},
					Containers: []corev1.Container{{Name: "srv", Image: "registry.invalid/srv:1",
						VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/tls", ReadOnly: true}}}},
					Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
				},
			},
		},
	}
}

// presented handshakes with addr presenting client, sends the request and
// returns the server's leaf; roots must verify the server.
func presented(ctx context.Context, addr string, client tls.Certificate, roots *x509.CertPool) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{
		ServerName: serverName, RootCAs: roots, Certificates: []tls.Certificate{client}, MinVersion: tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write(kubeletsim.Request); err != nil {
		return nil, err
	}
	resp := make([]byte, len(kubeletsim.Response))
	if _, err := io.ReadFull(conn, resp); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if !bytes.Equal(resp, kubeletsim.Response) {
		return nil, fmt.Errorf("response %q", resp)
	}
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

func poll(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, waitLimit, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last: %v)", what, err, last)
	}
}

// The simulator against the kubelet-less cluster: pods of two Deployments get
// servers behind Services; a Secret change reaches hot servers after the
// propagation delay, leaves load-once servers on the material they started
// with until their pod is replaced, and a replacement pod loads what its
// directory holds then; a standalone mount follows its Secret.
func TestSimulatorAgainstCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a full cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{})
	cs, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("follows secrets and pods", func(t *testing.T) { followsSecretsAndPods(t, c.RESTConfig, cs) })
	t.Run("a change waits for its delay on the injected clock", func(t *testing.T) { waitsForDelay(t, c.RESTConfig, cs) })
}

func createNamespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func followsSecretsAndPods(t *testing.T, cfg *rest.Config, cs kubernetes.Interface) {
	ctx := t.Context()
	const ns = "sim"
	createNamespace(t, cs, ns)
	ca1, ca2 := newCA(t, "sim-ca-1"), newCA(t, "sim-ca-2")
	both := x509.NewCertPool()
	both.AddCert(ca1.Cert)
	both.AddCert(ca2.Cert)
	oldClient := issue(t, ca1, "client-1")
	clientCert, err := tls.X509KeyPair(oldClient.ChainPEM, oldClient.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]map[string][]byte{
		"leaf":   tlsData(t, ca1, "server-1", ca1),
		"client": tlsData(t, ca1, "client-1", ca1),
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS, Data: data}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*appsv1.Deployment{deployment("hot", 2, kubeletsim.ReloadHot, "leaf"), deployment("once", 2, kubeletsim.ReloadLoadOnce, "leaf")} {
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sim, err := kubeletsim.Start(ctx, kubeletsim.Options{
		Config: cfg, Namespace: ns, Dir: t.TempDir(), MaxDelay: time.Second, Seed: 1, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if _, err := sim.AddService(ns, "hot", map[string]string{"app": "hot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddService(ns, "hot", map[string]string{"app": "hot"}); !errors.Is(err, kubeletsim.ErrDuplicateService) {
		t.Errorf("second AddService hot: %v, want ErrDuplicateService", err)
	}
	onceAddr, err := sim.AddService(ns, "once", map[string]string{"app": "once"})
	if err != nil {
		t.Fatal(err)
	}
	hotAddr, err := sim.ServiceAddr(ns, "hot")
	if err != nil {
		t.Fatal(err)
	}
	mount, err := sim.MountSecret(ns, "client")
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"hot", "once"} {
		poll(ctx, t, svc+" has 2 endpoints", func() (bool, error) {
			eps, err := sim.ServiceEndpoints(ns, svc)
			return len(eps) == 2, err
		})
	}

	// 1. Both Services serve CA 1's leaf and accept CA 1's client.
	for _, addr := range []string{hotAddr, onceAddr} {
		leaf, err := presented(ctx, addr, clientCert, both)
		if err != nil {
			t.Fatalf("handshake via %s: %v", addr, err)
		}
		if leaf.Issuer.CommonName != "sim-ca-1" {
			t.Fatalf("via %s: leaf issued by %q, want sim-ca-1", addr, leaf.Issuer.CommonName)
		}
	}
	if m, err := mount.Certificate(); err != nil || m.Leaf.Issuer.CommonName != "sim-ca-1" {
		t.Fatalf("client mount before the change: %v", err)
	}
	before := map[string]kubeletsim.Pod{}
	for _, p := range sim.Pods(ns) {
		before[p.Name] = p
	}

	// 2. The Secrets change to CA 2 leaves with the union bundle.
	newLeaf := tlsData(t, ca2, "server-2", ca1, ca2)
	for name, data := range map[string]map[string][]byte{"leaf": newLeaf, "client": tlsData(t, ca2, "client-2", ca1, ca2)} {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Data = data
		if _, err := cs.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	changed := time.Now()

	// 3. Hot pods present the new leaf without a restart (same server).
	for _, p := range sim.Pods(ns) {
		if p.Reload != kubeletsim.ReloadHot {
			continue
		}
		poll(ctx, t, "hot pod "+p.Name+" presents the CA 2 leaf", func() (bool, error) {
			leaf, err := presented(ctx, p.Addr, clientCert, both)
			return err == nil && leaf.Issuer.CommonName == "sim-ca-2", err
		})
		t.Logf("hot pod %s switched %s after the change (measured, not asserted)", p.Name, time.Since(changed).Round(time.Millisecond))
	}
	poll(ctx, t, "client mount holds the CA 2 leaf", func() (bool, error) {
		m, err := mount.Certificate()
		return err == nil && m.Leaf.Issuer.CommonName == "sim-ca-2", err
	})

	// 4. Load-once pods: the directory holds the new leaf, the server still
	// presents the old one.
	var victim kubeletsim.Pod
	for _, p := range sim.Pods(ns) {
		if p.Reload != kubeletsim.ReloadLoadOnce {
			continue
		}
		if b, ok := before[p.Name]; !ok || b.UID != p.UID || b.Addr != p.Addr {
			t.Fatalf("load-once pod %s changed without a replacement: before %+v now %+v", p.Name, b, p)
		}
		poll(ctx, t, "load-once pod "+p.Name+" volume holds the new leaf", func() (bool, error) {
			b, err := os.ReadFile(filepath.Join(p.Dir, "tls", "tls.crt"))
			return bytes.Equal(b, newLeaf["tls.crt"]), err
		})
		leaf, err := presented(ctx, p.Addr, clientCert, both)
		if err != nil {
			t.Fatalf("load-once pod %s: %v", p.Name, err)
		}
		if leaf.Issuer.CommonName != "sim-ca-1" {
			t.Fatalf("load-once pod %s presents a leaf of %q; it must keep the material it started with", p.Name, leaf.Issuer.CommonName)
		}
		victim = p
	}

	// 5. A replaced load-once pod: the old server stops, the new pod's
	// server loads the new leaf.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var fresh kubeletsim.Pod
	poll(ctx, t, "a replacement load-once pod with a server", func() (bool, error) {
		for _, p := range sim.Pods(ns) {
			if p.Reload == kubeletsim.ReloadLoadOnce && before[p.Name].UID == "" && p.Addr != "" {
				fresh = p
				return true, nil
			}
		}
		return false, nil
	})
	leaf, err := presented(ctx, fresh.Addr, clientCert, both)
	if err != nil {
		t.Fatalf("replacement pod %s: %v", fresh.Name, err)
	}
	if leaf.Issuer.CommonName != "sim-ca-2" {
		t.Fatalf("replacement pod %s presents a leaf of %q, want sim-ca-2", fresh.Name, leaf.Issuer.CommonName)
	}
	poll(ctx, t, "the deleted pod's server to stop", func() (bool, error) {
		conn, err := net.DialTimeout("tcp", victim.Addr, time.Second)
		if err != nil {
			return true, nil
		}
		_ = conn.Close()
		return false, nil
	})
	poll(ctx, t, "once Service back to 2 endpoints without the deleted pod", func() (bool, error) {
		eps, err := sim.ServiceEndpoints(ns, "once")
		for _, e := range eps {
			if e == victim.Addr {
				return false, err
			}
		}
		return len(eps) == 2, err
	})
	poll(ctx, t, "stats: >= 5 servers started, >= 1 stopped, >= 5 syncs (4 pods + 1 mount)", func() (bool, error) {
		st := sim.Stats()
		return st.ServersStarted >= 5 && st.ServersStopped >= 1 && st.Syncs >= 5, fmt.Errorf("stats %+v", st)
	})
}

// With a fake clock, a Secret change is scheduled but not written until the
// clock passes its delay (at most MaxDelay); a hot server keeps presenting
// the old leaf until then and the new one right after.
func waitsForDelay(t *testing.T, cfg *rest.Config, cs kubernetes.Interface) {
	ctx := t.Context()
	const ns = "sim-clock"
	const maxDelay = 10 * time.Second
	createNamespace(t, cs, ns)
	ca1, ca2 := newCA(t, "clock-ca-1"), newCA(t, "clock-ca-2")
	both := x509.NewCertPool()
	both.AddCert(ca1.Cert)
	both.AddCert(ca2.Cert)
	cl := issue(t, ca1, "client")
	clientCert, err := tls.X509KeyPair(cl.ChainPEM, cl.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "leaf"}, Type: corev1.SecretTypeTLS, Data: tlsData(t, ca1, "server-1", ca1)}
	if sec, err = cs.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("hot", 1, kubeletsim.ReloadHot, "leaf"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fc := testingclock.NewFakeClock(time.Now())
	sim, err := kubeletsim.Start(ctx, kubeletsim.Options{Config: cfg, Namespace: ns, Dir: t.TempDir(), MaxDelay: maxDelay, Seed: 7, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if _, err := sim.AddService(ns, "hot", map[string]string{"app": "hot"}); err != nil {
		t.Fatal(err)
	}
	poll(ctx, t, "hot has 1 endpoint", func() (bool, error) {
		eps, err := sim.ServiceEndpoints(ns, "hot")
		return len(eps) == 1, err
	})
	pod := sim.Pods(ns)[0]
	issuer := func() string {
		leaf, err := presented(ctx, pod.Addr, clientCert, both)
		if err != nil {
			t.Fatalf("pod %s: %v", pod.Name, err)
		}
		return leaf.Issuer.CommonName
	}
	if got := issuer(); got != "clock-ca-1" {
		t.Fatalf("before the change: leaf of %q", got)
	}
	sec.Data = tlsData(t, ca2, "server-2", ca1, ca2)
	if _, err := cs.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(ctx, t, "the delayed sync to be scheduled on the fake clock", func() (bool, error) { return fc.HasWaiters(), nil })
	if got := issuer(); got != "clock-ca-1" {
		t.Fatalf("the change reached the pod before the clock moved: leaf of %q", got)
	}
	if st := sim.Stats(); st.Syncs != 0 {
		t.Fatalf("stats %+v: a sync happened before the clock moved", st)
	}
	fc.Step(maxDelay)
	poll(ctx, t, "the hot pod to present the new leaf once the clock passed MaxDelay", func() (bool, error) {
		return issuer() == "clock-ca-2", nil
	})
	if st := sim.Stats(); st.Syncs != 1 {
		t.Errorf("stats %+v: want exactly 1 sync", st)
	}
}
