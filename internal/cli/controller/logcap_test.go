package controller

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/testenv"
)

func TestCapVerbosity(t *testing.T) {
	t.Parallel()
	var lines []string
	base := funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: 20})
	log := capVerbosity(base, 6).WithName("x").WithValues("k", "v")
	for v := 0; v <= 10; v++ {
		log.V(v).Info("line", "v", v)
	}
	if len(lines) != 7 {
		t.Fatalf("emitted %d lines at V(0..10) with cap 6, want 7: %q", len(lines), lines)
	}
	if log.V(7).Enabled() || !log.V(6).Enabled() {
		t.Errorf("V(7).Enabled=%v V(6).Enabled=%v, want false, true", log.V(7).Enabled(), log.V(6).Enabled())
	}
	if got := capVerbosity(logr.Discard(), 6); got.V(0).Enabled() {
		t.Error("capping a discarding logger enabled it")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoKeyInLogsAtHighestVerbosity runs `handover controller` with
// --zap-log-level=128 (the flag's most verbose value: zap keeps the level
// in an int8, so 128 is V-level 128 and larger numbers wrap around)
// against a real apiserver through a first publish and a full manual
// rotation of a generated CA with a leaf, and searches everything logged
// for private keys: the PEM header, its base64, and the first 40 base64
// characters of every key handover holds (managed copy tls.key and
// previous.key, the leaf's tls.key), raw and base64-encoded.
func TestNoKeyInLogsAtHighestVerbosity(t *testing.T) {
	cfg, c := apiServerWithCRD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var out syncBuffer
	o := &Options{
		Kube: kubeflags.Flags{Kubeconfig: writeKubeconfig(t, cfg)}, MetricsAddr: "0", ProbeAddr: "0",
		LeaderElect: false, GracefulShutdown: 10 * time.Second,
		Controller: ControllerOptions{MaxConcurrentReconciles: 1, PollInterval: 200 * time.Millisecond},
	}
	zfs := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.Zap.BindFlags(zfs)
	if err := zfs.Parse([]string{"--zap-log-level=128", "--zap-devel=false"}); err != nil {
		t.Fatal(err)
	}
	o.Zap.DestWriter = &out
	levels := make(chan [2]bool, 1)
	o.Started = func(m manager.Manager) { levels <- [2]bool{m.GetLogger().V(6).Enabled(), m.GetLogger().V(8).Enabled()} }
	o.skipNameValidation = true
	r := startRun(ctx, t, o)
	select {
	case l := <-levels:
		if !l[0] || l[1] {
			t.Fatalf("manager logger V(6).Enabled=%v V(8).Enabled=%v at --zap-log-level=128, want true, false", l[0], l[1])
		}
	case <-r.done:
		t.Fatalf("controller stopped: %v", r.err)
	}

	const ns = "default"
	labels := map[string]string{"app": "app"}
	if err := c.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/none"}}},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "logged", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:             v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles:       []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "logged-bundle"}},
			Certificates:       []v1alpha1.CertificateSpec{{SecretName: "logged-tls", DNSNames: []string{"app.default.svc"}}},
			Consumers:          []v1alpha1.Consumer{{Name: "app", Kind: "Deployment", WorkloadName: "app", Reload: v1alpha1.ReloadHot}},
			PropagationTimeout: v1alpha1.NewDuration(time.Second),
			GracePeriod:        v1alpha1.NewDuration(0),
		},
	}
	if err := c.Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	var first string
	if err := eventually(ctx, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(ca), ca); err != nil {
			return err
		}
		if ca.Status.Active == nil {
			return fmt.Errorf("not published: %+v", ca.Status)
		}
		first = ca.Status.Active.Fingerprint
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Annotate(ctx, c, ca, v1alpha1.AnnotationRotate, "1"); err != nil {
		t.Fatal(err)
	}
	if err := eventually(ctx, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(ca), ca); err != nil {
			return err
		}
		if r := ca.Status.Rotation; r == nil || r.Outcome != "Succeeded" || ca.Status.Active.Fingerprint == first {
			return fmt.Errorf("rotation not done: %+v", ca.Status.Rotation)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r.stop()
	<-r.done

	logged := out.String()
	if !strings.Contains(logged, "logged") {
		t.Fatalf("the controller logged nothing about the object (%d bytes): the search below would be vacuous", len(logged))
	}
	needles := map[string]string{"PEM private key header": "PRIVATE KEY"}
	for _, h := range []string{"-----BEGIN PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----"} {
		n := len(h) / 3 * 3 // whole base64 groups: the same in any Secret value that starts with h
		needles["base64 of "+h] = base64.StdEncoding.EncodeToString([]byte(h[:n]))
	}
	for _, name := range []string{"logged-handover-ca", "logged-tls"} {
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"tls.key", "previous.key"} {
			pemKey := s.Data[k]
			if len(pemKey) == 0 {
				continue
			}
			lines := strings.Split(string(pemKey), "\n")
			if len(lines) < 2 || len(lines[1]) < 40 {
				t.Fatalf("Secret %s key %s is not a PEM key", name, k)
			}
			needles[name+" "+k+" body"] = lines[1][:40]
			needles[name+" "+k+" as base64"] = base64.StdEncoding.EncodeToString(pemKey)[:40]
		}
	}
	found := 0
	for what, needle := range needles {
		if n := strings.Count(logged, needle); n > 0 {
			found += n
			t.Errorf("the log holds %s (%d times)", what, n) // never the key itself
		}
	}
	t.Logf("searched %d bytes of logs for %d needles: %d private keys found", len(logged), len(needles), found)
}
