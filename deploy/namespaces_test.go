package deploy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/controller"
)

// checkPerNamespaceRoles installs the chart's RBAC rendered with
// rbac.namespaces=[team-a, team-b] (Roles there, a small ClusterRole) and
// runs `handover controller` with the chart's --namespaces as that
// ServiceAccount: a CertificateAuthority in team-a is published, one in
// team-c (not listed) is left alone.
func checkPerNamespaceRoles(ctx context.Context, t *testing.T, c client.Client, cfg *rest.Config, ns string) {
	t.Helper()
	for _, n := range []string{"team-a", "team-b", "team-c"} {
		if err := apply(ctx, c, nsObject(n), false); err != nil {
			t.Fatal(err)
		}
	}
	docs := renderChart(ctx, t, helmBinary(t), filepath.Join("helm", "handover"), ns,
		"--set", "rbac.namespaces={team-a,team-b}", "--set", "leaderElection.id=per-namespace-test")
	var sa string
	for _, u := range docs {
		switch u.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if u.GetKind() == "ServiceAccount" {
				sa = u.GetName()
			}
			if err := apply(ctx, c, u, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := controllerArgs(t, docs)[1:] // drop "controller"
	for i, a := range args {
		if a == "--leader-election-namespace=$(POD_NAMESPACE)" {
			args[i] = "--leader-election-namespace=" + ns
		}
	}
	args = append(args, "--kubeconfig", impersonatingKubeconfig(t, cfg, ns, sa),
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--zap-log-level", "error")
	// A process of its own: controller-runtime allows one controller of a
	// name per process, and the next subtest runs another in this one.
	proc := startControllerProcess(t, args)

	for _, n := range []string{"team-a", "team-c"} {
		ca := &v1alpha1.CertificateAuthority{
			ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: "scoped"},
			Spec: v1alpha1.CertificateAuthoritySpec{
				Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
				TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "trust"}},
			},
		}
		if err := c.Create(ctx, ca); err != nil {
			t.Fatal(err)
		}
	}
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		got := &v1alpha1.CertificateAuthority{}
		err := c.Get(wait, client.ObjectKey{Namespace: "team-a", Name: "scoped"}, got)
		if err == nil && got.Status.Active != nil && c.Get(wait, client.ObjectKey{Namespace: "team-a", Name: "trust"}, &corev1.ConfigMap{}) == nil {
			break
		}
		select {
		case <-wait.Done():
			t.Fatalf("the controller with per-namespace Roles did not publish team-a/scoped; conditions: %s", conditionsText(got))
		case <-proc.exited:
			t.Fatalf("controller exited: %v\n%s", proc.err, proc.out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	other := &v1alpha1.CertificateAuthority{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team-c", Name: "scoped"}, other); err != nil {
		t.Fatal(err)
	}
	if len(other.Status.Conditions) != 0 {
		t.Errorf("team-c (not in rbac.namespaces) was reconciled: %s", conditionsText(other))
	}
}

// envControllerArgs makes the test binary run `handover controller` with
// these arguments (newline-separated) instead of the tests (see TestMain).
const envControllerArgs = "HANDOVER_DEPLOY_TEST_CONTROLLER_ARGS"

func TestMain(m *testing.M) {
	if raw, ok := os.LookupEnv(envControllerArgs); ok {
		cmd := controller.NewCommand()
		cmd.SetArgs(strings.Split(raw, "\n"))
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is a `handover controller` child process.
type process struct {
	exited chan struct{}
	err    error
	out    syncBuffer
}

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

// startControllerProcess runs `handover controller args...` as a child
// process (this test binary, see TestMain); at cleanup it gets SIGTERM and
// must exit 0 within 30s.
func startControllerProcess(t *testing.T, args []string) *process {
	t.Helper()
	p := &process{exited: make(chan struct{})}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envControllerArgs+"="+strings.Join(args, "\n"))
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if p.err != nil {
				t.Errorf("controller process: %v\n%s", p.err, p.out.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
			t.Errorf("controller process did not stop within 30s of SIGTERM")
		}
	})
	return p
}
