package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/tlsserver"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/realnode"
	"github.com/handover-dev/handover/internal/tlsloop"
)

// The real-pod fleet: the same three consumers as the emulated rotation
// e2e (rotationApps), as real processes in real pods on the real node:
// gateway and ratelimit are nginx from Debian (load-once: it reads its
// certificates at start), edge is `handover tls-server` (hot reload).
const (
	podPort   = 8443
	nginxConf = "nginx-conf"
	// preStopSleep (seconds) lets the balancer drop a terminating pod before
	// it stops serving; 2 s was too short on a loaded machine (read
	// timeouts on connections sent to a pod whose network was gone).
	preStopSleep = 5
)

// nginxConfig serves mTLS on podPort: a client without a certificate the
// mounted ca.crt verifies gets its connection closed without a response
// (444), everyone else "pong". Session caches and tickets are off, so every
// probe is a full handshake.
const nginxConfig = `worker_processes 1;
error_log stderr warn;
pid /tmp/nginx.pid;
events { worker_connections 512; }
http {
  access_log off;
  server {
    listen 8443 ssl;
    ssl_certificate /etc/tls/tls.crt;
    ssl_certificate_key /etc/tls/tls.key;
    ssl_client_certificate /etc/tls/ca.crt;
    ssl_verify_client optional;
    ssl_session_tickets off;
    ssl_session_cache off;
    location / {
      if ($ssl_client_verify != SUCCESS) { return 444; }
      return 200 "pong\n";
    }
  }
}
`

// nginxRequest is what probe clients send to nginx; any response byte
// counts (a rejected client certificate gets none, see nginxConfig).
var nginxRequest = []byte("GET / HTTP/1.0\r\n\r\n")

// realDeployment is one consumer Deployment on the real node.
func realDeployment(name string, replicas int32, reload v1alpha1.ReloadPolicy) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	c := corev1.Container{
		Name:            name,
		ImagePullPolicy: corev1.PullNever,
		VolumeMounts:    []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/tls", ReadOnly: true}},
		Ports:           []corev1.ContainerPort{{Name: "mtls", ContainerPort: podPort}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(podPort)}},
			PeriodSeconds: 1, FailureThreshold: 1,
		},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: preStopSleep}}},
	}
	vols := []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: tlsSecretOf(name)}}}}
	if reload == v1alpha1.ReloadHot {
		c.Image = realnode.ImageHandover
		c.Args = []string{"tls-server", "--dir", "/etc/tls", "--listen", fmt.Sprintf("0.0.0.0:%d", podPort)}
	} else {
		c.Image = realnode.ImageNginx
		c.Args = []string{"-c", "/etc/nginx-conf/nginx.conf", "-g", "daemon off;"}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "conf", MountPath: "/etc/nginx-conf", ReadOnly: true})
		vols = append(vols, corev1.Volume{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: nginxConf}}}})
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                  map[string]string{realnode.Label: "true"},
					TerminationGracePeriodSeconds: ptr.To[int64](10),
					Containers:                    []corev1.Container{c},
					Volumes:                       vols,
				},
			},
		},
	}
}

// realFleet is rotationFleet on real pods: Services are real (their
// EndpointSlices come from kube-controller-manager); a loopback balancer per
// Service follows the ready endpoints, as kube-proxy would; the probe
// client's leaf comes from its Secret through the API (no mount).
type realFleet struct {
	*rotationFleet
	balancers map[string]*tlsloop.Balancer
	clientMat *tlsloop.Loader
	stop      context.CancelFunc
	secrets   *secretLog // edge's Secret versions: when each content appeared
}

// setupRealFleet creates the namespace, nginx's ConfigMap, the Deployments
// and Services of rotationApps, the gateway's PodDisruptionBudget
// (minAvailable 2) and the CertificateAuthority (same spec as the emulated
// run), and waits for the first publish and every pod's endpoint.
func setupRealFleet(t *testing.T, cfg *rest.Config, c client.Client, ns string, mode v1alpha1.Mode) *realFleet {
	t.Helper()
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: nginxConf},
		Data: map[string]string{"nginx.conf": nginxConfig}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	f := &realFleet{
		// Each of the staged plan's four steps may wait for a kubelet sync.
		rotationFleet: &rotationFleet{ns: ns, cs: cs, c: c, services: map[string]string{}, wait: rotationWait + 8*testenv.RealNodeSyncFrequency()},
		balancers:     map[string]*tlsloop.Balancer{},
		stop:          cancel,
	}
	t.Cleanup(func() {
		cancel()
		for _, b := range f.balancers {
			b.Close()
		}
	})
	f.secrets = watchSecret(wctx, t, cs, ns, tlsSecretOf(edgeName))
	var certs []v1alpha1.CertificateSpec
	var consumers []v1alpha1.Consumer
	for _, a := range rotationApps {
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, realDeployment(a.name, a.replicas, a.policy), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: a.name}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": a.name},
			Ports:    []corev1.ServicePort{{Name: "mtls", Port: podPort, TargetPort: intstr.FromInt32(podPort)}},
		}}
		if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		b, err := tlsloop.NewBalancer()
		if err != nil {
			t.Fatal(err)
		}
		f.balancers[a.name] = b
		f.services[a.name] = b.Addr()
		t.Logf("%s: Service %s balanced at %s", ns, a.name, b.Addr())
		followEndpoints(wctx, t, cs, ns, a.name, b)
		name := serverNameOf(a.name, ns)
		certs = append(certs, v1alpha1.CertificateSpec{SecretName: tlsSecretOf(a.name), CommonName: name, DNSNames: []string{name}})
		consumer := v1alpha1.Consumer{Name: a.name, Kind: v1alpha1.WorkloadKind("Deployment"), WorkloadName: a.name, Reload: a.policy}
		if a.policy == v1alpha1.ReloadHot {
			// nginx cannot be verified by the operator's probe: it never
			// rejects a client certificate in the TLS handshake (its verify
			// callback accepts everything and the verdict comes later as
			// HTTP 400 or, here, 444), so the drop-previous-ca gate ("rejects
			// the previous CA") never passes. The nginx consumers are
			// verified by their restarts instead (a consumer without probe);
			// the probe clients below still see every nginx failure.
			// The operator probes each ready pod by its address on the
			// bridge (probe.service), not one pod of the balancer's choosing:
			// at the kubelet's default syncFrequency (1m) pods see a change
			// up to a minute apart, and a gate that reached only the pods
			// already updated passed early (154 failed handshakes).
			consumer.Probe = &v1alpha1.ConsumerProbe{Service: a.name, ServerName: name}
		}
		consumers = append(consumers, consumer)
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testenv.MinAvailableBudget("", gatewayName, 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.clientMat = &tlsloop.Loader{Source: newSecretSource(wctx, t, cs, ns, clientSecret)}
	f.createCA(t, mode, certs, consumers)
	for _, a := range rotationApps {
		poll(ctx, t, fmt.Sprintf("%s/%s: %d ready endpoints", ns, a.name, a.replicas), func() (bool, error) {
			n := len(readyEndpoints(t, cs, ns, a.name))
			return n == int(a.replicas), fmt.Errorf("%d ready", n)
		})
	}
	poll(ctx, t, "the probe client's leaf", func() (bool, error) {
		_, err := f.clientMat.Load()
		return err == nil, err
	})
	return f
}

// readyEndpoints lists "ip:port" of the ready endpoints of Service app.
func readyEndpoints(t *testing.T, cs kubernetes.Interface, ns, app string) []string {
	t.Helper()
	l, err := cs.DiscoveryV1().EndpointSlices(ns).List(t.Context(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + app})
	if err != nil {
		return nil
	}
	return endpointsOf(l.Items)
}

func endpointsOf(slices []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				out = append(out, fmt.Sprintf("%s:%d", a, podPort))
			}
		}
	}
	sort.Strings(out)
	return out
}

// followEndpoints keeps b's backends equal to the ready endpoints of
// Service app (EndpointSlices, as kube-proxy reads them) until ctx ends.
func followEndpoints(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, app string, b *tlsloop.Balancer) {
	t.Helper()
	fac := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName + "=" + app }))
	inf := fac.Discovery().V1().EndpointSlices().Informer()
	sync := func(any) {
		var slices []discoveryv1.EndpointSlice
		for _, o := range inf.GetStore().List() {
			slices = append(slices, *o.(*discoveryv1.EndpointSlice))
		}
		b.Set(endpointsOf(slices))
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: sync, UpdateFunc: func(_, o any) { sync(o) }, DeleteFunc: sync,
	}); err != nil {
		t.Fatal(err)
	}
	fac.Start(ctx.Done())
	t.Cleanup(fac.Shutdown)
}

// secretSource is a tlsloop.Source over one Secret in an informer cache:
// the probe clients' material, current as soon as the API has it.
type secretSource struct {
	store cache.Store
	key   string
}

func newSecretSource(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) *secretSource {
	t.Helper()
	fac := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + name }))
	inf := fac.Core().V1().Secrets().Informer()
	fac.Start(ctx.Done())
	t.Cleanup(fac.Shutdown)
	return &secretSource{store: inf.GetStore(), key: ns + "/" + name}
}

func (s *secretSource) get() (*corev1.Secret, error) {
	o, ok, err := s.store.GetByKey(s.key)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", s.key, err)
	}
	if !ok {
		return nil, fmt.Errorf("secret %s not in the cache yet", s.key)
	}
	return o.(*corev1.Secret), nil
}

func (s *secretSource) Generation() (string, error) {
	sec, err := s.get()
	if err != nil {
		return "", err
	}
	return sec.ResourceVersion, nil
}

func (s *secretSource) Read() (tlsloop.Snapshot, error) {
	sec, err := s.get()
	if err != nil {
		return tlsloop.Snapshot{}, err
	}
	return tlsloop.Snapshot{Generation: sec.ResourceVersion, Files: sec.Data}, nil
}

func (f *realFleet) clientCert() (*tls.Certificate, error) {
	m, err := f.clientMat.Load()
	if err != nil {
		return nil, err
	}
	return &m.Cert, nil
}

func (f *realFleet) clientRoots() (*x509.CertPool, error) {
	m, err := f.clientMat.Load()
	if err != nil {
		return nil, err
	}
	return m.Roots, nil
}

// probeClients runs one mTLS probe Runner per Service (30 handshakes/s,
// bounded by stop) into rec: ping/pong for edge, an HTTP GET for nginx.
func (f *realFleet) probeClients(rec *probe.Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, a := range rotationApps {
		req := []byte(tlsloop.Request)
		if a.policy != v1alpha1.ReloadHot {
			req = nginxRequest
		}
		r := &probe.Runner{
			Probe: &probe.MTLS{
				Addr: f.services[a.name], ServerName: serverNameOf(a.name, f.ns),
				GetClientCertificate: f.clientCert, GetRootCAs: f.clientRoots,
				Request: req, ProbeName: "mtls-" + a.name,
			},
			Target: a.name, Rate: 30, Concurrency: 4, Timeout: 2 * time.Second, Sink: rec,
		}
		wg.Go(func() { _ = r.Run(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}

func (f *realFleet) fleet() *rotationFleet { return f.rotationFleet }

// assertPresent handshakes with every ready pod directly (its pod address)
// and fails unless each presents a leaf of the CA fingerprint fp.
func (f *realFleet) assertPresent(t *testing.T, fp string) {
	t.Helper()
	n := 0
	for _, a := range rotationApps {
		req := []byte(tlsloop.Request)
		if a.policy != v1alpha1.ReloadHot {
			req = nginxRequest
		}
		for _, addr := range readyEndpoints(t, f.cs, f.ns, a.name) {
			n++
			issuer, err := issuerOf(t.Context(), addr, serverNameOf(a.name, f.ns), f.clientCert, f.clientRoots, req)
			if err != nil {
				t.Errorf("%s pod %s: %v", a.name, addr, err)
				continue
			}
			if issuer != fp {
				t.Errorf("%s pod %s presents a leaf of CA %s, want %s", a.name, addr, short(issuer), short(fp))
			}
		}
	}
	if n < 7 {
		t.Errorf("%d ready pods, want 7", n)
	}
}

// secretLog records when each content (tlsserver.ContentDigest) of one
// Secret first appeared in the API, as seen by a watch.
type secretLog struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func watchSecret(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) *secretLog {
	t.Helper()
	l := &secretLog{first: map[string]time.Time{}}
	fac := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + name }))
	inf := fac.Core().V1().Secrets().Informer()
	seen := func(o any) {
		s, ok := o.(*corev1.Secret)
		if !ok {
			return
		}
		d := tlsserver.ContentDigest(s.Data)
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.first[d]; !ok {
			l.first[d] = time.Now()
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: seen, UpdateFunc: func(_, o any) { seen(o) }}); err != nil {
		t.Fatal(err)
	}
	fac.Start(ctx.Done())
	t.Cleanup(fac.Shutdown)
	return l
}

// propagation reads the generation log of every edge pod (its container
// log, through the API and the kubelet) and returns, per change a pod saw
// after its start, how long after the Secret's change it appeared inside
// the pod.
func (f *realFleet) propagation(t *testing.T) []time.Duration {
	t.Helper()
	pods, err := listPods(t.Context(), f.cs, f.ns, edgeName)
	if err != nil {
		t.Fatal(err)
	}
	f.secrets.mu.Lock()
	defer f.secrets.mu.Unlock()
	var out []time.Duration
	for _, p := range pods {
		raw, err := f.cs.CoreV1().Pods(f.ns).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(t.Context())
		if err != nil {
			t.Errorf("logs of %s: %v", p.Name, err)
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		firstLine := true
		for sc.Scan() {
			var e tlsserver.Event
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			if firstLine { // the content the pod started with
				firstLine = false
				continue
			}
			if at, ok := f.secrets.first[e.ContentSHA256]; ok {
				out = append(out, e.Time.Sub(at))
			} else {
				t.Errorf("pod %s saw content %s the Secret never had", p.Name, short(e.ContentSHA256))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
