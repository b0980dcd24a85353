package ca

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/controller"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/testenv"
)

// TestRotateAndRevertWithController runs `handover controller` against a
// real apiserver and drives it with `ca rotate --wait` and `ca revert
// --wait`: the rotation ends with a new active CA (the old one previous),
// the revert brings the first CA back, and `ca status` shows both.
func TestRotateAndRevertWithController(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the controller through two rotations")
	}
	cfg := testenv.StartAPIServer(t)
	installCRDs(t, cfg)
	const ns = "e2e"
	kubeconfig := writeKubeconfig(t, cfg, ns)
	c, err := kubeflags.Client(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		cmd := controller.NewCommand()
		cmd.SetArgs([]string{"--kubeconfig", kubeconfig, "--leader-elect=false", "--metrics-bind-address", "0",
			"--health-probe-bind-address", "0", "--poll-interval", "100ms", "--zap-log-level", "error", "--zap-stacktrace-level", "panic"})
		done <- cmd.ExecuteContext(runCtx)
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	}()

	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "internal"},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{CommonName: "internal CA"}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "trust"}},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "web-tls", DNSNames: []string{"web.e2e.svc"}}},
		},
	}
	must(t, c.Create(ctx, ca))
	first := waitActive(ctx, t, c, ns, "internal", "")

	out := mustRun(t, "rotate", "internal", "--kubeconfig", kubeconfig, "--wait", "--interval", "100ms", "--timeout", "90s")
	if !strings.Contains(out, "rotation finished (Succeeded)") {
		t.Fatalf("rotate --wait output:\n%s", out)
	}
	got := get(ctx, t, c, ns, "internal")
	if got.Status.Active == nil || got.Status.Active.Fingerprint == first {
		t.Fatalf("active CA after rotate: %+v, want a new one (first %s)", got.Status.Active, first)
	}
	second := got.Status.Active.Fingerprint
	if len(got.Status.Previous) == 0 || got.Status.Previous[0].Fingerprint != first {
		t.Errorf("previous after rotate: %+v, want %s first", got.Status.Previous, first)
	}
	if !strings.Contains(out, second) {
		t.Errorf("rotate --wait did not print the new active CA %s:\n%s", second, out)
	}

	out = mustRun(t, "revert", "internal", "--kubeconfig", kubeconfig, "--wait", "--interval", "100ms", "--timeout", "90s")
	if !strings.Contains(out, "rotation finished") {
		t.Fatalf("revert --wait output:\n%s", out)
	}
	if got := get(ctx, t, c, ns, "internal"); got.Status.Active == nil || got.Status.Active.Fingerprint != first {
		t.Errorf("active CA after revert: %+v, want the first CA %s back", got.Status.Active, first)
	}

	status := mustRun(t, "status", "internal", "--kubeconfig", kubeconfig)
	for _, want := range []string{first, second, "Rotating"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %s:\n%s", want, status)
		}
	}
}

// waitActive waits until status.active is set and differs from not, and
// returns its fingerprint.
func waitActive(ctx context.Context, t *testing.T, c client.Client, ns, name, not string) string {
	t.Helper()
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		got := &v1alpha1.CertificateAuthority{}
		if err := c.Get(wait, client.ObjectKey{Namespace: ns, Name: name}, got); err == nil &&
			got.Status.Active != nil && got.Status.Active.Fingerprint != not {
			return got.Status.Active.Fingerprint
		}
		select {
		case <-wait.Done():
			t.Fatalf("%s/%s: no active CA in status", ns, name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
