package ca

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/testenv"
)

// writeKubeconfig writes a kubeconfig for cfg with two contexts: "admin"
// (namespace ns, current) and "nobody" (impersonates a user without RBAC).
func writeKubeconfig(t *testing.T, cfg *rest.Config, ns string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.AuthInfos["nobody"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken, Impersonate: "nobody"}
	kc.Contexts["admin"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: ns}
	kc.Contexts["nobody"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "nobody", Namespace: ns}
	kc.CurrentContext = "admin"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func installCRDs(t *testing.T, cfg *rest.Config) {
	t.Helper()
	testenv.InstallCRDs(t, cfg)
}

func metaTime(t *testing.T, s string) metav1.Time {
	t.Helper()
	return metav1.NewTime(mustTime(t, s))
}

// handWrittenStatus is a mid-rotation status as the controller would write it.
func handWrittenStatus(t *testing.T) v1alpha1.CertificateAuthorityStatus {
	at := func(s string) *metav1.Time { tm := metaTime(t, s); return &tm }
	return v1alpha1.CertificateAuthorityStatus{
		ObservedGeneration: 1,
		Phase:              "Rotating",
		BundleGeneration:   5,
		Conditions: []metav1.Condition{
			{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: "Valid", Message: "spec is valid", LastTransitionTime: metaTime(t, "2026-01-10T08:00:00Z"), ObservedGeneration: 1},
			{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Serving", Message: "every target holds a bundle that trusts the active CA", LastTransitionTime: metaTime(t, "2026-01-10T08:00:00Z"), ObservedGeneration: 1},
			{Type: v1alpha1.ConditionRotating, Status: metav1.ConditionTrue, Reason: "RootChanged", Message: "root certificate in Secret root-ca changed\nto sha256:BB", LastTransitionTime: metaTime(t, "2026-01-15T10:00:00Z"), ObservedGeneration: 1},
		},
		Active:   &v1alpha1.CAInfo{Subject: "CN=gateway root 2026,O=example", Fingerprint: "sha256:AA:01", NotAfter: metaTime(t, "2027-01-01T00:00:00Z")},
		Previous: []v1alpha1.CAInfo{{Subject: "CN=gateway root 2025,O=example", Fingerprint: "sha256:AA:00", NotAfter: metaTime(t, "2026-02-01T00:00:00Z")}},
		Rotation: &v1alpha1.RotationStatus{
			Target: "sha256:BB:02", Trigger: "secretRef root-ca changed", StartedAt: metaTime(t, "2026-01-15T10:00:00Z"), Phase: "restart-load-once",
			Steps: []v1alpha1.StepStatus{
				{Name: "publish-bundle", Phase: "Done", UpdatedAt: at("2026-01-15T10:00:05Z")},
				{Name: "wait-propagation", Phase: "Done", UpdatedAt: at("2026-01-15T10:01:35Z")},
				{Name: "restart-load-once", Phase: "Applying", Reason: "ratelimit: 1/3 pods evicted", UpdatedAt: at("2026-01-15T10:02:00Z")},
				{Name: "publish-leaves", Phase: "Pending"},
			},
		},
		Queued:              "rotate 2026-01-15T10:01:00Z",
		Consumers:           []v1alpha1.ConsumerStatus{{Name: "gateway", BundleGeneration: 5}, {Name: "ratelimit", BundleGeneration: 4, Message: "2 of 3 pods on generation 4"}},
		ConsumersConverged:  "1/2 consumers on generation 5",
		UndeclaredConsumers: []v1alpha1.ObjectReference{{Kind: "Pod", Namespace: "gateway", Name: "debug-shell"}},
	}
}

func newCA(ns, name string) *v1alpha1.CertificateAuthority {
	return &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": "edge"}, Annotations: map[string]string{"note": "keep"}},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{SecretRef: &v1alpha1.CASecretRef{Name: "root-ca"}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "gateway-ca"}},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "gateway-tls", DNSNames: []string{"gw.example"}}},
			Consumers: []v1alpha1.Consumer{
				{Name: "gateway", Kind: "Deployment", WorkloadName: "gateway", Reload: v1alpha1.ReloadRolloutRestart},
				{Name: "ratelimit", Kind: "Deployment", WorkloadName: "ratelimit", Reload: v1alpha1.ReloadEvict, Wave: 1},
			},
		},
	}
}

// TestClusterVerbs runs status, rotate and revert against a real
// kube-apiserver: first without the CRD, then with it.
func TestClusterVerbs(t *testing.T) {
	cfg := testenv.StartAPIServer(t)
	const ns = "gateway"
	kubeconfig := writeKubeconfig(t, cfg, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("crd not installed", func(t *testing.T) {
		o := &StatusOptions{ClusterOptions: ClusterOptions{Kube: kubeflags.Flags{Kubeconfig: kubeconfig}, Name: "gateway-ca"}, Out: &strings.Builder{}}
		err := runStatus(ctx, o)
		if !errors.Is(err, kubeflags.ErrCRDMissing) {
			t.Fatalf("status without CRD: got %v, want ErrCRDMissing", err)
		}
		if !strings.Contains(err.Error(), "deploy/manifests") {
			t.Errorf("error does not say how to install the CRD: %v", err)
		}
	})

	installCRDs(t, cfg)
	c, err := kubeflags.Client(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	ca := newCA(ns, "gateway-ca")
	if err := c.Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	ca.Status = handWrittenStatus(t)
	if err := c.Status().Update(ctx, ca); err != nil {
		t.Fatalf("write status: %v", err)
	}
	plain := newCA(ns, "plain-ca")
	if err := c.Create(ctx, plain); err != nil {
		t.Fatal(err)
	}

	t.Run("plan reads the cluster and writes nothing", func(t *testing.T) {
		seedPlanWorkloads(ctx, t, c, ns)
		before := get(ctx, t, c, ns, "gateway-ca")
		out := mustRun(t, "plan", "gateway-ca", "--kubeconfig", kubeconfig)
		for _, want := range []string{
			"spec.trustBundles[0] Secret gateway/gateway-ca ca.crt update",
			"spec.certificates[0] Secret gateway/gateway-tls tls.crt,tls.key,ca.crt create",
			"wave 1 ratelimit: Deployment gateway/ratelimit, reload Evict",
			"pods evicted one at a time (2): ratelimit-a, ratelimit-b",
			"PodDisruptionBudgets: ratelimit-pdb; disruptionsAllowed 1; headroom 1",
			`consumer gateway: not found: spec.consumers[0].workloadName`,
			"Expected duration: ",
		} {
			// table columns align to the widest cell: compare with runs of spaces folded
			if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
				t.Errorf("plan output lacks %q:\n%s", want, out)
			}
		}
		if after := get(ctx, t, c, ns, "gateway-ca"); after.ResourceVersion != before.ResourceVersion {
			t.Errorf("plan wrote the CertificateAuthority")
		}
		var secrets corev1.SecretList
		must(t, c.List(ctx, &secrets, client.InNamespace(ns)))
		if len(secrets.Items) != 1 {
			t.Errorf("plan created Secrets: %d in %s, want only gateway-ca", len(secrets.Items), ns)
		}
		jsonOut := mustRun(t, "plan", "gateway-ca", "--kubeconfig", kubeconfig, "-o", "json")
		if !strings.Contains(jsonOut, `"expectedDuration"`) || !strings.Contains(jsonOut, `"consumers"`) || strings.Contains(jsonOut, `"Consumers"`) {
			t.Errorf("-o json lacks camelCase expectedDuration and consumers:\n%s", jsonOut)
		}
	})

	t.Run("NAME completes from the cluster", func(t *testing.T) {
		out := mustRun(t, "__complete", "status", "--kubeconfig", kubeconfig, "gate")
		if !strings.Contains(out, "gateway-ca\n") {
			t.Errorf("completion of %q lacks gateway-ca:\n%s", "gate", out)
		}
		if out := mustRun(t, "__complete", "status", "--kubeconfig", kubeconfig, "zzz"); strings.Contains(out, "gateway-ca") {
			t.Errorf("completion of %q offers gateway-ca:\n%s", "zzz", out)
		}
	})

	t.Run("status text golden", func(t *testing.T) {
		// namespace from the kubeconfig context, no -n
		out := mustRun(t, "status", "gateway-ca", "--kubeconfig", kubeconfig)
		compareGolden(t, "status.golden", out)
	})

	t.Run("status json is the status object", func(t *testing.T) {
		out := mustRun(t, "status", "gateway-ca", "--kubeconfig", kubeconfig, "-o", "json")
		for _, want := range []string{`"consumersConverged": "1/2 consumers on generation 5"`, `"phase": "restart-load-once"`} {
			if !strings.Contains(out, want) {
				t.Errorf("json lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("not found names the namespace", func(t *testing.T) {
		o := &StatusOptions{ClusterOptions: ClusterOptions{Kube: kubeflags.Flags{Kubeconfig: kubeconfig, Namespace: "elsewhere"}, Name: "gateway-ca"}, Out: &strings.Builder{}}
		err := runStatus(ctx, o)
		if !errors.Is(err, kubeflags.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), `namespace "elsewhere"`) || !strings.Contains(err.Error(), `"gateway-ca"`) {
			t.Errorf("error does not name object and namespace: %v", err)
		}
		_, errOut, code := execute(t, "rotate", "missing", "--kubeconfig", kubeconfig)
		if code != 1 || !strings.Contains(errOut, `CertificateAuthority "missing" not found in namespace "gateway"`) {
			t.Errorf("rotate missing: exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("no permission", func(t *testing.T) {
		o := &StatusOptions{ClusterOptions: ClusterOptions{Kube: kubeflags.Flags{Kubeconfig: kubeconfig, Context: "nobody"}, Name: "gateway-ca"}, Out: &strings.Builder{}}
		err := runStatus(ctx, o)
		if !errors.Is(err, kubeflags.ErrForbidden) {
			t.Fatalf("got %v, want ErrForbidden", err)
		}
	})

	t.Run("rotate sets the annotation and nothing else", func(t *testing.T) {
		before := get(ctx, t, c, ns, "gateway-ca")
		out := mustRun(t, "rotate", "gateway-ca", "--kubeconfig", kubeconfig, "-n", ns, "--token", "t-1")
		after := get(ctx, t, c, ns, "gateway-ca")
		assertOnlyAnnotation(t, before, after, annotationRotate, "t-1")
		for _, want := range []string{"set handover.dev/rotate=t-1", "this trigger is queued", "handover ca status gateway-ca -n gateway"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("rotate default token is new each time", func(t *testing.T) {
		mustRun(t, "rotate", "plain-ca", "--kubeconfig", kubeconfig)
		first := get(ctx, t, c, ns, "plain-ca").Annotations[annotationRotate]
		mustRun(t, "rotate", "plain-ca", "--kubeconfig", kubeconfig)
		second := get(ctx, t, c, ns, "plain-ca").Annotations[annotationRotate]
		if first == "" || first == second {
			t.Errorf("tokens %q then %q: want two different non-empty values", first, second)
		}
	})

	t.Run("revert sets the annotation and nothing else", func(t *testing.T) {
		before := get(ctx, t, c, ns, "gateway-ca")
		out := mustRun(t, "revert", "gateway-ca", "--kubeconfig", kubeconfig, "--token", "r-1")
		after := get(ctx, t, c, ns, "gateway-ca")
		assertOnlyAnnotation(t, before, after, annotationRevert, "r-1")
		if !strings.Contains(out, "aborts it and rolls back") {
			t.Errorf("output does not explain the abort:\n%s", out)
		}
	})

	t.Run("revert refuses without previous CA or rotation", func(t *testing.T) {
		before := get(ctx, t, c, ns, "plain-ca")
		o := &TriggerOptions{ClusterOptions: ClusterOptions{Kube: kubeflags.Flags{Kubeconfig: kubeconfig}, Name: "plain-ca"}, Clock: clock.RealClock{}, Out: &strings.Builder{}}
		if err := runRevert(ctx, o); !errors.Is(err, ErrNothingToRevert) {
			t.Fatalf("got %v, want ErrNothingToRevert", err)
		}
		if after := get(ctx, t, c, ns, "plain-ca"); after.ResourceVersion != before.ResourceVersion {
			t.Errorf("refused revert wrote the object (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
		}
	})

	t.Run("rotate --wait follows the status until Rotating is False", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- fakeController(ctx, c, ns, "plain-ca", "w-1") }()
		out := mustRun(t, "rotate", "plain-ca", "--kubeconfig", kubeconfig, "--token", "w-1", "--wait", "--interval", "50ms", "--timeout", "1m")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Intermediate states may be polled or not; the end is always reported.
		for _, want := range []string{"set handover.dev/rotate=w-1", "rotation finished (Succeeded): active CA CN=next sha256:CC"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// fakeController stands in for the controller in the --wait test: when the
// rotate annotation carries token it writes a running rotation, then a
// finished one. It only writes status, as the real controller does.
func fakeController(ctx context.Context, c client.Client, ns, name, token string) error {
	for {
		ca := &v1alpha1.CertificateAuthority{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ca); err != nil {
			return err
		}
		if ca.Annotations[annotationRotate] == token {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	steps := []struct {
		rotating metav1.ConditionStatus
		phase    string
		outcome  string
	}{{metav1.ConditionTrue, "publish-bundle", ""}, {metav1.ConditionFalse, "drop-old-ca", "Succeeded"}}
	for _, s := range steps {
		ca := &v1alpha1.CertificateAuthority{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ca); err != nil {
			return err
		}
		ca.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionRotating, Status: s.rotating, Reason: "Test", LastTransitionTime: metav1.Now()}}
		ca.Status.Rotation = &v1alpha1.RotationStatus{Phase: s.phase, Outcome: s.outcome, StartedAt: metav1.Now(), Target: "sha256:CC"}
		ca.Status.Active = &v1alpha1.CAInfo{Subject: "CN=next", Fingerprint: "sha256:CC", NotAfter: metav1.Now()}
		if err := c.Status().Update(ctx, ca); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // give the poller a chance to print each state
	}
	return nil
}

func get(ctx context.Context, t *testing.T, c client.Client, ns, name string) *v1alpha1.CertificateAuthority {
	t.Helper()
	ca := &v1alpha1.CertificateAuthority{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ca); err != nil {
		t.Fatal(err)
	}
	return ca
}

// assertOnlyAnnotation fails unless after equals before except for
// annotation key = value (and the server-managed metadata).
func assertOnlyAnnotation(t *testing.T, before, after *v1alpha1.CertificateAuthority, key, value string) {
	t.Helper()
	if got := after.Annotations[key]; got != value {
		t.Errorf("annotation %s = %q, want %q", key, got, value)
	}
	want := map[string]string{}
	for k, v := range before.Annotations {
		want[k] = v
	}
	want[key] = value
	if !reflect.DeepEqual(after.Annotations, want) {
		t.Errorf("annotations %v, want %v", after.Annotations, want)
	}
	if !reflect.DeepEqual(after.Labels, before.Labels) {
		t.Errorf("labels changed: %v -> %v", before.Labels, after.Labels)
	}
	if !reflect.DeepEqual(after.Spec, before.Spec) || after.Generation != before.Generation {
		t.Errorf("spec changed (generation %d -> %d)", before.Generation, after.Generation)
	}
	if !reflect.DeepEqual(after.Status, before.Status) {
		t.Errorf("status changed")
	}
}
