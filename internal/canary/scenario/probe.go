package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/probe"
)

// Failure classes of the children probe.
const (
	ClassMissing = "child missing"
	ClassWrong   = "child wrong"
)

var (
	errMissing = errors.New("child ConfigMap missing")
	errWrong   = errors.New("child ConfigMap does not render its Route")
)

// Sweep is the result of one pass over the namespace.
type Sweep struct {
	At      time.Time
	Routes  int
	Correct int
}

// ChildProbe samples every Route's child in one namespace every Interval: a
// LIST of Routes and ConfigMaps, then one probe.Sample per Route (Target =
// the Route's name), failed with ClassMissing or ClassWrong.
type ChildProbe struct {
	Client    client.Client
	Namespace string
	Interval  time.Duration
	Sink      probe.Sink

	mu     sync.Mutex
	sweeps []Sweep
}

// Run sweeps until ctx is done.
func (p *ChildProbe) Run(ctx context.Context) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		p.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *ChildProbe) sweep(ctx context.Context) {
	start := time.Now()
	var routes sample.RouteList
	var cms corev1.ConfigMapList
	if err := p.Client.List(ctx, &routes, client.InNamespace(p.Namespace)); err != nil {
		return
	}
	if err := p.Client.List(ctx, &cms, client.InNamespace(p.Namespace), client.HasLabels{sample.LabelRoute}); err != nil {
		return
	}
	// A sample is stamped with the moment the children were observed (the
	// ConfigMap LIST returned), so it lands in the phase that caused it.
	seen := time.Now()
	lat := seen.Sub(start)
	byName := make(map[string]*corev1.ConfigMap, len(cms.Items))
	for i := range cms.Items {
		byName[cms.Items[i].Name] = &cms.Items[i]
	}
	s := Sweep{At: seen, Routes: len(routes.Items)}
	for i := range routes.Items {
		r := &routes.Items[i]
		smp := probe.Sample{Probe: "child", Target: r.Name, Start: seen, Latency: lat}
		switch cm, ok := byName[sample.ChildName(r.Name)]; {
		case !ok:
			smp.Err, smp.Class = errMissing, ClassMissing
		case !sample.Correct(cm, r):
			smp.Err, smp.Class = errWrong, ClassWrong
		default:
			s.Correct++
		}
		p.Sink.Add(smp)
	}
	p.mu.Lock()
	p.sweeps = append(p.sweeps, s)
	p.mu.Unlock()
}

// Last returns the latest sweep (zero before the first).
func (p *ChildProbe) Last() Sweep {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sweeps) == 0 {
		return Sweep{}
	}
	return p.sweeps[len(p.sweeps)-1]
}

// FirstAllCorrectAfter returns the start of the first sweep that began
// after t and saw every Route's child correct.
func (p *ChildProbe) FirstAllCorrectAfter(t time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sweeps {
		if s.At.After(t) && s.Routes > 0 && s.Correct == s.Routes {
			return s.At, true
		}
	}
	return time.Time{}, false
}

// WaitAllCorrect polls (every 200 ms, up to timeout) until every Route in
// ns has a correct child.
func WaitAllCorrect(ctx context.Context, c client.Client, ns string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, n, err := allCorrect(ctx, c, ns)
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err, errorsf("%d routes not rendered correctly", n))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func allCorrect(ctx context.Context, c client.Client, ns string) (bool, int, error) {
	var routes sample.RouteList
	var cms corev1.ConfigMapList
	if err := c.List(ctx, &routes, client.InNamespace(ns)); err != nil {
		return false, 0, err
	}
	if err := c.List(ctx, &cms, client.InNamespace(ns), client.HasLabels{sample.LabelRoute}); err != nil {
		return false, 0, err
	}
	byName := make(map[string]*corev1.ConfigMap, len(cms.Items))
	for i := range cms.Items {
		byName[cms.Items[i].Name] = &cms.Items[i]
	}
	bad := 0
	for i := range routes.Items {
		cm, ok := byName[sample.ChildName(routes.Items[i].Name)]
		if !ok || !sample.Correct(cm, &routes.Items[i]) {
			bad++
		}
	}
	return bad == 0, bad, nil
}

func errorsf(format string, args ...any) error { return fmt.Errorf(format, args...) }
