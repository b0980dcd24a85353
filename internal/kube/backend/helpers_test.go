package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

func newClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mkNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func newCA(t testing.TB, cn string) *trust.CA {
	t.Helper()
	ca, err := trust.NewCA(trust.CAOptions{CommonName: cn}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func bundleOf(cas ...*trust.CA) []byte {
	var certs []*x509.Certificate
	for _, ca := range cas {
		certs = append(certs, ca.Cert)
	}
	return trust.EncodeCertificates(certs...)
}

func probeLeaf(t testing.TB, ca *trust.CA) tls.Certificate {
	t.Helper()
	c, err := rotation.ProbeLeaf(ca, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ownedBy returns the ownership mark of newCAObject(ns, ...).
func ownedBy(ns string) map[string]string {
	return map[string]string{v1alpha1.AnnotationOwner: v1alpha1.OwnerOf(ns, "ca")}
}

// newCAObject returns CertificateAuthority "ca" in ns with spec (a generate
// source when spec has none: the backend does not read the source).
func newCAObject(ns string, spec v1alpha1.CertificateAuthoritySpec) *v1alpha1.CertificateAuthority {
	if spec.Source.Generate == nil && spec.Source.SecretRef == nil {
		spec.Source.Generate = &v1alpha1.GenerateSource{}
	}
	return &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: ns}, Spec: spec}
}

func mustNew(t *testing.T, c client.Client, ca *v1alpha1.CertificateAuthority, opts Options) *Backend {
	t.Helper()
	b, err := New(c, ca, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// deployment returns a Deployment of n replicas on kwok nodes, app=name.
func deployment(ns, name string, n int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                  map[string]string{"type": "kwok"},
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
				},
			},
		},
	}
}

// tlsServer is a real mTLS server on 127.0.0.1: it presents leaf, requires
// a client certificate verified against clientCAs, and closes each
// connection after the handshake once the client half-closes.
type tlsServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func startTLSServer(t *testing.T, leaf *trust.Leaf, clientCAs ...*trust.CA) *tlsServer {
	t.Helper()
	cert, err := tls.X509KeyPair(leaf.ChainPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, ca := range clientCAs {
		pool.AddCert(ca.Cert)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				if err := conn.(*tls.Conn).Handshake(); err != nil {
					return
				}
				s.accepted.Add(1)
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *tlsServer) addr() string { return s.ln.Addr().String() }

func (s *tlsServer) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

func serverLeaf(t testing.TB, ca *trust.CA, dns string) *trust.Leaf {
	t.Helper()
	l, err := ca.IssueLeaf(trust.LeafOptions{CommonName: dns, DNSNames: []string{dns}, Usage: trust.UsageServer | trust.UsageClient}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// roundRobin is a TCP proxy on 127.0.0.1 that sends each new connection to
// the next backend, like a Service in front of several pods.
func roundRobin(t *testing.T, backends ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			to := backends[int(next.Add(1)-1)%len(backends)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer in.Close()
				out, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); closeWrite(out); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); closeWrite(in); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want errors.Is(_, %v)", err, target)
	}
}

func ctxT(t *testing.T) context.Context { return t.Context() }
