package canary_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
)

// BenchmarkHandoverAndRevert measures, on a real kube-apiserver with
// HANDOVER_BENCH_ROUTES Routes (default 10,000): handing every Route to the
// canary at weight 100 (Relabel, 16 workers), the revert switch until a
// canary write is denied (one param write), and relabelling back in the
// background. Run with -benchtime=1x; figures are reported, never asserted:
//
//	go test -run '^$' -bench BenchmarkHandoverAndRevert -benchtime=1x ./internal/canary/
func BenchmarkHandoverAndRevert(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("HANDOVER_BENCH_ROUTES")); err == nil && v > 0 {
		n = v
	}
	w := startWorldTB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cc := canaryAtDefaults("bench")
	if err := w.admin.Create(ctx, cc); err != nil {
		b.Fatal(err)
	}
	kinds, errs := canary.CheckResources(cc, w.admin.RESTMapper())
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	if err := createRoutes(ctx, w.admin, n); err != nil {
		b.Fatal(err)
	}
	startEnforcementTB(b, w, cc)
	probeRoute := route("route-00000", "")
	workers := 16
	if v, err := strconv.Atoi(os.Getenv("HANDOVER_BENCH_WORKERS")); err == nil && v > 0 {
		workers = v
	}
	b.ResetTimer()
	for range b.N {
		// HANDOVER_BENCH_APISERVER_PROFILE=file: kube-apiserver's own CPU
		// profile (/debug/pprof) over the first 20 s of the handover.
		profDone := profileAPIServer(ctx, b, w.cfg, os.Getenv("HANDOVER_BENCH_APISERVER_PROFILE"), 20)
		apiCPU0, selfCPU0 := apiserverCPU(ctx, b, w.cfg), selfCPU(b)
		start := time.Now()
		owned, err := canary.Relabel(ctx, w.admin, cc, kinds[0], testNS, 100, false, workers, nil)
		if err != nil {
			b.Fatal(err)
		}
		handover := time.Since(start)
		apiCPU, clientCPU := apiserverCPU(ctx, b, w.cfg)-apiCPU0, selfCPU(b)-selfCPU0
		<-profDone
		if owned["v2"] != n {
			b.Fatalf("canary owns %d of %d after weight 100", owned["v2"], n)
		}
		// Wait until the canary can write (the label is visible to admission).
		for relabelHost(ctx, w.v2, probeRoute.Name, "h.example") != nil {
			time.Sleep(5 * time.Millisecond)
		}
		switchAt := time.Now()
		if err := canary.SetRevert(ctx, w.admin, cc.Name, true); err != nil {
			b.Fatal(err)
		}
		for {
			err := w.v2.Patch(ctx, route(probeRoute.Name, ""), client.RawPatch("application/merge-patch+json", []byte(`{}`)), client.DryRunAll)
			if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		effective := time.Since(switchAt)
		start = time.Now()
		if _, err := canary.Relabel(ctx, w.admin, cc, kinds[0], testNS, 0, true, workers, nil); err != nil {
			b.Fatal(err)
		}
		back := time.Since(start)
		if err := canary.SetRevert(ctx, w.admin, cc.Name, false); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(handover.Seconds(), "handover_s")
		b.ReportMetric(float64(effective.Microseconds())/1000, "revert_effective_ms")
		b.ReportMetric(back.Seconds(), "relabel_back_s")
		b.ReportMetric(float64(n), "objects")
		// CPU per object does not depend on how loaded the machine is.
		b.ReportMetric(apiCPU.Seconds()*1000/float64(n), "apiserver_cpu_ms/object")
		b.ReportMetric(clientCPU.Seconds()*1000/float64(n), "handover_cpu_ms/object")
	}
}

// profileAPIServer fetches kube-apiserver's CPU profile for seconds into
// path in the background (nothing when path is ""); the channel closes when
// it is written.
func profileAPIServer(ctx context.Context, b *testing.B, cfg *rest.Config, path string, seconds int) <-chan struct{} {
	done := make(chan struct{})
	if path == "" {
		close(done)
		return done
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		defer close(done)
		raw, err := dc.RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(seconds)).Timeout(time.Duration(seconds+30) * time.Second).DoRaw(ctx)
		if err != nil {
			b.Errorf("kube-apiserver profile: %v", err)
			return
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			b.Errorf("write %s: %v", path, err)
		}
	}()
	return done
}

// apiserverCPU reads kube-apiserver's process_cpu_seconds_total.
func apiserverCPU(ctx context.Context, b *testing.B, cfg *rest.Config) time.Duration {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := dc.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		b.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range fams["process_cpu_seconds_total"].GetMetric() {
		return time.Duration(m.GetCounter().GetValue() * float64(time.Second))
	}
	b.Fatal("kube-apiserver /metrics has no process_cpu_seconds_total")
	return 0
}

// selfCPU is this process's user+system CPU time.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func createRoutes(ctx context.Context, c client.Client, n int) error {
	sem := make(chan struct{}, 16)
	errc := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			r := &sample.Route{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: fmt.Sprintf("route-%05d", i)},
				Spec: sample.RouteSpec{Host: "h.example", Backend: "10.0.0.1:80"}}
			errc <- c.Create(ctx, r)
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}
