// Package scenario runs the controller-canary demo on a real kube-apiserver:
// 1,000 Routes rendered by the sample controller, and three runs with fixed
// names — "in-place" (v2 replaces v1 the usual way), "canary-bad" (v2 as a
// canary at 5 % with a deletion budget of 10) and "canary-good" (v3
// promoted through 5/25/50/100 %). The probes are the objects: every
// Route's child ConfigMap is sampled for presence and correctness.
package scenario

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/handover-dev/handover/internal/canary/sample"
)

// User returns the identity of sample version v ("sample-v1", …).
func User(v string) string { return "sample-" + v }

// CreateRoutes creates namespace ns and n Routes "route-0000"… in it, 16
// at a time.
func CreateRoutes(ctx context.Context, c client.Client, ns string, n int) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return parallel(ctx, n, 16, func(i int) error {
		r := &sample.Route{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("route-%04d", i)},
			Spec:       sample.RouteSpec{Host: fmt.Sprintf("r%d.example", i), Backend: fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250)},
		}
		if err := c.Create(ctx, r); err != nil {
			return fmt.Errorf("create route %s/%s: %w", ns, r.Name, err)
		}
		return nil
	})
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// Controller is one running version of the sample controller.
type Controller struct {
	Reconciler *sample.Reconciler
	cancel     context.CancelFunc
	done       chan error
}

// StartController runs sample version v in namespace ns as User(v) (an
// impersonating copy of admin), without leader election, metrics or health
// endpoints, with orphan cleanup every cleanup. onWrite receives its writes.
func StartController(ctx context.Context, admin *rest.Config, scheme *runtime.Scheme, v, ns string, cleanup time.Duration, onWrite func(sample.Write)) (*Controller, error) {
	mgr, err := manager.New(sample.Impersonate(admin, User(v)), manager.Options{
		Scheme:                  scheme,
		Cache:                   cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          false,
		GracefulShutdownTimeout: ptr.To(5 * time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("sample %s: manager: %w", v, err)
	}
	r := &sample.Reconciler{Version: v, OnWrite: onWrite}
	if err := r.Add(mgr, sample.Options{Namespace: ns, CleanupInterval: cleanup}); err != nil {
		return nil, fmt.Errorf("sample %s: %w", v, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	c := &Controller{Reconciler: r, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- mgr.Start(cctx) }()
	return c, nil
}

// Stop stops the controller and waits for it.
func (c *Controller) Stop() error {
	c.cancel()
	return <-c.done
}

// logf writes one progress line.
func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		_, _ = fmt.Fprintf(w, format+"\n", args...)
	}
}
