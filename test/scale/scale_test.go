// Package scale is the scale benchmark of the CertificateAuthority
// controller (issue 10 §3): the real `handover controller` binary against a
// real kube-apiserver with 1,000 CertificateAuthorities in 200 namespaces
// beside 10,000 unrelated Secrets. It reports figures (b.ReportMetric and a
// JSON report), never asserts a timing:
//
//	go test -run '^$' -bench BenchmarkScale -benchtime 1x -timeout 60m ./test/scale/
//
// HANDOVER_SCALE_REPORT=path writes the JSON report there; HANDOVER_SCALE_CAS,
// _NAMESPACES, _SECRETS and _ROTATIONS shrink or grow the run, _RECONCILES
// sets --max-concurrent-reconciles (4) and _QPS --kube-api-qps (burst
// twice it; default the flag's 50/100).
package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	watchpkg "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/testenv"
)

// Report is the JSON report of one run (units in the field names).
type Report struct {
	CertificateAuthorities int `json:"certificateAuthorities"`
	Namespaces             int `json:"namespaces"`
	UnrelatedSecrets       int `json:"unrelatedSecrets"`
	Concurrency            int `json:"maxConcurrentReconciles"`
	// QPS is --kube-api-qps (burst twice it); "" = the default (50/100).
	QPS string `json:"kubeAPIQPS,omitempty"`

	FirstPublishSeconds float64 `json:"firstPublishSeconds"`
	PeakRSSMiB          float64 `json:"peakRSSMiB"`
	RSSAfterMiB         float64 `json:"rssAfterMiB"`

	// Reconcile latency from controller-runtime's histogram
	// (controller_runtime_reconcile_time_seconds, bucket-interpolated).
	AllReconciles    Latency `json:"allReconciles"`
	SteadyReconciles Latency `json:"steadyReconciles"`
	// SteadyRequestsPerReconcile: client requests by HTTP method per
	// steady-state reconcile of an unchanged object
	// (rest_client_requests_total); access reviews are counted apart
	// (handover_access_reviews_total) and are POSTs too.
	SteadyRequestsPerReconcile map[string]float64 `json:"steadyRequestsPerReconcile"`
	SteadyAccessReviews        float64            `json:"steadyAccessReviews"`
	SteadyWrites               float64            `json:"steadyWrites"`

	OneRotationSeconds  float64 `json:"oneRotationSeconds"`
	Rotations           int     `json:"concurrentRotations"`
	ManyRotationSeconds float64 `json:"concurrentRotationsSeconds"`
	RotationRatio       float64 `json:"concurrentOverOne"`
	// RequestsPerRotation: client requests by method during the concurrent
	// rotations, divided by their number (the checkpoint, the managed copy,
	// the targets, the reconciles each plan event causes).
	RequestsPerRotation map[string]float64 `json:"requestsPerConcurrentRotation"`
}

// Latency is a reconcile latency summary in milliseconds.
type Latency struct {
	Count float64 `json:"count"`
	P50ms float64 `json:"p50ms"`
	P99ms float64 `json:"p99ms"`
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func BenchmarkScale(b *testing.B) {
	if testing.Short() {
		b.Skip("the scale benchmark starts a kube-apiserver and creates 11,000 objects")
	}
	ctrllog.SetLogger(logr.Discard()) // envtest's own logs
	nCA := envInt("HANDOVER_SCALE_CAS", 1000)
	nNS := envInt("HANDOVER_SCALE_NAMESPACES", 200)
	nSecrets := envInt("HANDOVER_SCALE_SECRETS", 10000)
	nRot := envInt("HANDOVER_SCALE_ROTATIONS", 100)
	concurrency := envInt("HANDOVER_SCALE_RECONCILES", 4)
	for i := 0; i < b.N; i++ {
		rep := run(b, nCA, nNS, nSecrets, nRot, concurrency)
		b.ReportMetric(rep.PeakRSSMiB, "peak-RSS-MiB")
		b.ReportMetric(rep.SteadyReconciles.P99ms, "steady-p99-ms")
		b.ReportMetric(rep.AllReconciles.P99ms, "all-p99-ms")
		b.ReportMetric(rep.SteadyWrites, "steady-writes")
		b.ReportMetric(rep.SteadyAccessReviews, "steady-access-reviews")
		b.ReportMetric(rep.RotationRatio, "rotations-ratio")
		out, _ := json.MarshalIndent(rep, "", "  ")
		b.Logf("report:\n%s", out)
		if p := os.Getenv("HANDOVER_SCALE_REPORT"); p != "" {
			if err := os.WriteFile(p, append(out, '\n'), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func run(b *testing.B, nCA, nNS, nSecrets, nRot, concurrency int) Report {
	b.Helper()
	rep := Report{CertificateAuthorities: nCA, Namespaces: nNS, UnrelatedSecrets: nSecrets, Concurrency: concurrency, Rotations: nRot,
		QPS: os.Getenv("HANDOVER_SCALE_QPS")}
	cfg := testenv.StartAPIServer(b)
	testenv.InstallCRDs(b, cfg)
	scheme, err := kubeflags.Scheme()
	if err != nil {
		b.Fatal(err)
	}
	dcfg := rest.CopyConfig(cfg)
	dcfg.QPS, dcfg.Burst = -1, 0 // the driver is not rate limited
	c, err := client.NewWithWatch(dcfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()

	start := time.Now()
	populate(ctx, b, c, nCA, nNS, nSecrets)
	b.Logf("created %d namespaces, %d Secrets, %d CertificateAuthorities in %s", nNS, nSecrets, nCA, time.Since(start).Round(time.Second))

	// The operator's binary, as the Deployment runs it (controller only).
	bin := filepath.Join(b.TempDir(), "handover-controller")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/handover-dev/handover/cmd/handover-controller").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	metricsAddr := testenv.FreeLoopbackAddr(b)
	ctl := startController(b, bin, testenv.WriteKubeconfig(b, cfg, ""), metricsAddr, concurrency, rep.QPS)
	m := &scraper{url: "http://" + metricsAddr + "/metrics"}

	start = time.Now()
	waitAll(ctx, b, c, nCA, func(ca *v1alpha1.CertificateAuthority) bool {
		return ca.Status.Active != nil && meta.IsStatusConditionTrue(ca.Status.Conditions, v1alpha1.ConditionReady)
	}, "first publish")
	rep.FirstPublishSeconds = time.Since(start).Seconds()

	// Steady state: every object published; wait for the resync (30s)
	// to reconcile each unchanged object at least once more.
	time.Sleep(5 * time.Second) // the last status patches' own reconciles
	before := m.scrape(ctx, b)
	deadline := time.Now().Add(3 * time.Minute)
	var after samples
	for {
		time.Sleep(5 * time.Second)
		after = m.scrape(ctx, b)
		if after.reconciles()-before.reconciles() >= float64(nCA) || time.Now().After(deadline) {
			break
		}
	}
	n := after.reconciles() - before.reconciles()
	rep.SteadyRequestsPerReconcile = map[string]float64{}
	for method, v := range after.requests() {
		if d := v - before.requests()[method]; d > 0 {
			rep.SteadyRequestsPerReconcile[method] = round3(d / n)
		}
	}
	rep.SteadyAccessReviews = after.accessReviews() - before.accessReviews()
	byMethod := func(s samples, m string) float64 { return s.requests()[m] }
	rep.SteadyWrites = byMethod(after, "PUT") - byMethod(before, "PUT") + byMethod(after, "PATCH") - byMethod(before, "PATCH") +
		byMethod(after, "DELETE") - byMethod(before, "DELETE") +
		(byMethod(after, "POST") - byMethod(before, "POST") - rep.SteadyAccessReviews)
	rep.SteadyReconciles = after.latency(before)
	rep.AllReconciles = after.latency(samples{})

	// One rotation alone, then nRot at once.
	rep.OneRotationSeconds = rotate(ctx, b, c, nNS, 1, "one")
	before = m.scrape(ctx, b)
	rep.ManyRotationSeconds = rotate(ctx, b, c, nNS, nRot, "many")
	after = m.scrape(ctx, b)
	rep.RequestsPerRotation = map[string]float64{}
	for method, v := range after.requests() {
		if d := v - before.requests()[method]; d > 0 {
			rep.RequestsPerRotation[method] = round3(d / float64(nRot))
		}
	}
	rep.RotationRatio = round3(rep.ManyRotationSeconds / rep.OneRotationSeconds)
	rep.PeakRSSMiB, rep.RSSAfterMiB = ctl.rss(b)
	return rep
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// populate creates nNS namespaces, nSecrets unrelated Secrets (2 KiB each,
// like a TLS Secret) and nCA CertificateAuthorities spread evenly over them,
// each with one Hot consumer Deployment, 16 writers at a time.
func populate(ctx context.Context, b *testing.B, c client.Client, nCA, nNS, nSecrets int) {
	b.Helper()
	var objs []client.Object
	for i := 0; i < nNS; i++ {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}})
	}
	createAll(ctx, b, c, objs)
	objs = objs[:0]
	blob := make([]byte, 2048)
	for i := range blob {
		blob[i] = byte('a' + i%26)
	}
	for i := 0; i < nSecrets; i++ {
		objs = append(objs, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%d", i), Namespace: nsName(i % nNS), Labels: map[string]string{"app": "unrelated"}},
			Data:       map[string][]byte{"tls.crt": blob},
		})
	}
	for i := 0; i < nCA; i++ {
		// A consumer makes the rotation the staged plan (with none it is
		// atomic: nothing to verify, no waits). Hot without a probe: each
		// publish is verified by waiting the propagation bound.
		labels := map[string]string{"app": caName(i)}
		objs = append(objs, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: caName(i) + "-app", Namespace: nsName(i % nNS), Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app"}}},
				},
			},
		})
		objs = append(objs, &v1alpha1.CertificateAuthority{
			ObjectMeta: metav1.ObjectMeta{Name: caName(i), Namespace: nsName(i % nNS)},
			Spec: v1alpha1.CertificateAuthoritySpec{
				Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{Algorithm: v1alpha1.KeyAlgorithmECDSAP256}},
				TrustBundles: []v1alpha1.TrustBundleTarget{{
					Kind: v1alpha1.TargetSecret, Name: caName(i) + "-bundle", Key: "ca.crt",
				}},
				Consumers:          []v1alpha1.Consumer{{Name: "app", Kind: "Deployment", WorkloadName: caName(i) + "-app", Reload: v1alpha1.ReloadHot}},
				PropagationTimeout: v1alpha1.NewDuration(time.Second),
				GracePeriod:        v1alpha1.NewDuration(2 * time.Second),
			},
		})
	}
	createAll(ctx, b, c, objs)
}

func nsName(i int) string { return fmt.Sprintf("team-%03d", i) }
func caName(i int) string { return fmt.Sprintf("ca-%04d", i) }

func createAll(ctx context.Context, b *testing.B, c client.Client, objs []client.Object) {
	b.Helper()
	work := make(chan client.Object)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if err := c.Create(ctx, o); err != nil {
					select {
					case errs <- fmt.Errorf("create %s/%s: %w", o.GetNamespace(), o.GetName(), err):
					default:
					}
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// waitAll polls (every 2 s, until ctx ends) until want holds for n
// CertificateAuthorities.
func waitAll(ctx context.Context, b *testing.B, c client.Client, n int, want func(*v1alpha1.CertificateAuthority) bool, what string) {
	b.Helper()
	for {
		list := &v1alpha1.CertificateAuthorityList{}
		if err := c.List(ctx, list); err != nil {
			b.Fatal(err)
		}
		ok := 0
		for i := range list.Items {
			if want(&list.Items[i]) {
				ok++
			}
		}
		if ok >= n {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%s: %d/%d CertificateAuthorities after the deadline", what, ok, n)
		case <-time.After(2 * time.Second):
		}
	}
}

// rotate starts a manual rotation of the first k CertificateAuthorities at
// once and returns the seconds until the last one succeeded, as one watch
// on CertificateAuthorities shows it: the driver adds no load of its own
// (polling 100 objects every 200 ms would be some 500 GETs/s competing
// with the controller for the same apiserver, and a one-rotation run would
// pay none of it), and the time is the watch event's, not a poll's.
func rotate(ctx context.Context, b *testing.B, c client.WithWatch, nNS, k int, token string) float64 {
	b.Helper()
	list := &v1alpha1.CertificateAuthorityList{}
	if err := c.List(ctx, list); err != nil {
		b.Fatal(err)
	}
	old := map[client.ObjectKey]string{}
	for i := range list.Items {
		if a := list.Items[i].Status.Active; a != nil {
			old[client.ObjectKeyFromObject(&list.Items[i])] = a.Fingerprint
		}
	}
	pending := map[client.ObjectKey]bool{}
	for i := 0; i < k; i++ {
		pending[client.ObjectKey{Namespace: nsName(i % nNS), Name: caName(i)}] = true
	}
	rv := list.ResourceVersion
	watch := func() <-chan watchpkg.Event {
		w, err := c.Watch(ctx, &v1alpha1.CertificateAuthorityList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.Stop)
		return w.ResultChan()
	}
	events := watch()
	start := time.Now()
	var wg sync.WaitGroup
	for key := range pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.AnnotationRotate, token))
			ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
			if err := c.Patch(ctx, ca, client.RawPatch("application/merge-patch+json", patch)); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := func(ca *v1alpha1.CertificateAuthority) {
		key := client.ObjectKeyFromObject(ca)
		r := ca.Status.Rotation
		if !pending[key] || r == nil || r.Outcome == "" || r.Target == old[key] || ca.Status.Active == nil || ca.Status.Active.Fingerprint != r.Target {
			return
		}
		if r.Outcome != "Succeeded" {
			b.Fatalf("rotation of %s ended %s: %s", key, r.Outcome, r.Reason)
		}
		delete(pending, key)
	}
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			b.Fatalf("rotations: %d of %d still running at the deadline", len(pending), k)
		case ev, ok := <-events:
			ca, isCA := ev.Object.(*v1alpha1.CertificateAuthority)
			switch {
			case ok && isCA:
				rv = ca.ResourceVersion
				seen(ca)
				continue
			case ok && ev.Type != watchpkg.Error:
				b.Fatalf("watch: %s event with %T", ev.Type, ev.Object)
			}
			// The watch ended or failed (410 Gone): list again, then
			// watch from that list's version.
			l := &v1alpha1.CertificateAuthorityList{}
			if err := c.List(ctx, l); err != nil {
				b.Fatal(err)
			}
			for i := range l.Items {
				seen(&l.Items[i])
			}
			rv = l.ResourceVersion
			events = watch()
		}
	}
	return round3(time.Since(start).Seconds())
}

// controller is the `handover controller` process.
type controller struct{ cmd *exec.Cmd }

func startController(b *testing.B, bin, kubeconfig, metricsAddr string, concurrency int, qps string) *controller {
	b.Helper()
	logf, err := os.Create(filepath.Join(b.TempDir(), "controller.log"))
	if err != nil {
		b.Fatal(err)
	}
	args := []string{"controller", "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", "0",
		"--max-concurrent-reconciles", strconv.Itoa(concurrency), "--poll-interval", "200ms",
		"--resync-period", "30s", "--zap-log-level", "error"}
	if q, err := strconv.Atoi(qps); err == nil && q > 0 {
		args = append(args, "--kube-api-qps", qps, "--kube-api-burst", strconv.Itoa(2*q))
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
	return &controller{cmd: cmd}
}

// rss returns the process's peak (VmHWM) and current (VmRSS) resident set
// in MiB, from /proc/PID/status.
func (c *controller) rss(b *testing.B) (peak, cur float64) {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmHWM:":
			peak = round3(kb / 1024)
		case "VmRSS:":
			cur = round3(kb / 1024)
		}
	}
	return peak, cur
}
