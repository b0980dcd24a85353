package certificateauthority_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

// shiftedClock is the real clock moved forward by an adjustable offset:
// timers run in real time, Now jumps (the CA's age without waiting hours).
type shiftedClock struct {
	clock.RealClock
	off atomic.Int64
}

func (c *shiftedClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *shiftedClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// TestRenewBefore covers spec.source.generate (commonName, duration,
// renewBefore, algorithm, secretName) and spec.certificates duration and
// algorithm: when the clock reaches notAfter - renewBefore, a Renewal
// rotation replaces the CA, once.
func TestRenewBefore(t *testing.T) {
	e := newEnv(t)
	e.namespace(t, ns)
	e.deployment(t, ns, "app", map[string]string{"app": "app"})
	clk := &shiftedClock{}
	e.startManagerWith(t, nil, false, clk)
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "renew", Namespace: ns},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{
				CommonName: "renewing-root", Algorithm: v1alpha1.KeyAlgorithmRSA2048, SecretName: "renew-root",
				Duration: v1alpha1.NewDuration(10 * time.Hour), RenewBefore: v1alpha1.NewDuration(time.Hour),
			}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "renew-bundle"}},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "renew-tls", DNSNames: []string{"renew.test"},
				Algorithm: v1alpha1.KeyAlgorithmEd25519, Duration: v1alpha1.NewDuration(30 * time.Minute)}},
			Consumers:          []v1alpha1.Consumer{{Name: "app", Kind: "Deployment", WorkloadName: "app", Reload: v1alpha1.ReloadHot}},
			PropagationTimeout: v1alpha1.NewDuration(time.Second),
			GracePeriod:        v1alpha1.NewDuration(0),
		},
	}
	if err := e.c.Create(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	got := e.waitFor(t, ns, "renew", 60*time.Second, "first publish", func(ca *v1alpha1.CertificateAuthority) bool {
		return ready(ca) && ca.Status.Active != nil
	})
	first := got.Status.Active.Fingerprint
	root := secretData(t, e.c, "renew-root")
	rootCA, err := trust.ParseCA(root["tls.crt"], root["tls.key"], clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rootCA.Key.(*rsa.PrivateKey); !ok || rootCA.Cert.Subject.CommonName != "renewing-root" {
		t.Fatalf("generated CA: key %T, CN %q", rootCA.Key, rootCA.Cert.Subject.CommonName)
	}
	if v := rootCA.Cert.NotAfter.Sub(rootCA.Cert.NotBefore); v < 10*time.Hour || v > 10*time.Hour+2*time.Minute {
		t.Fatalf("CA validity %s, want 10h", v)
	}
	leaf, err := trust.ParseCertificates(secretData(t, e.c, "renew-tls")["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := leaf[0].PublicKey.(ed25519.PublicKey); !ok || leaf[0].NotAfter.Sub(leaf[0].NotBefore) > 32*time.Minute {
		t.Fatalf("leaf key %T validity %s, want Ed25519 and 30m", leaf[0].PublicKey, leaf[0].NotAfter.Sub(leaf[0].NotBefore))
	}

	// Not due yet: 8h later nothing happens.
	clk.off.Store(int64(8 * time.Hour))
	time.Sleep(3 * time.Second)
	if r := e.get(t, ns, "renew").Status.Rotation; r != nil {
		t.Fatalf("rotation before renewBefore: %+v", r)
	}
	// Within renewBefore of notAfter: a Renewal rotation.
	clk.off.Store(int64(9*time.Hour + 30*time.Minute))
	got = e.waitFor(t, ns, "renew", 60*time.Second, "renewal", rotatedFrom(first))
	if got.Status.Rotation.Trigger != "Renewal" {
		t.Fatalf("trigger %q, want Renewal", got.Status.Rotation.Trigger)
	}
	if !got.Status.Active.NotAfter.After(clk.Now().Add(9 * time.Hour)) {
		t.Fatalf("renewed CA expires %s, want ~10h after the shifted now", got.Status.Active.NotAfter)
	}
	started := got.Status.Rotation.StartedAt
	time.Sleep(3 * time.Second)
	if r := e.get(t, ns, "renew").Status.Rotation; !r.StartedAt.Equal(&started) {
		t.Fatalf("a second renewal started: %+v", r)
	}
}
