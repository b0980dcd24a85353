package kubeprobe

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
)

// Watch watches the probe namespace's ConfigMaps until ctx ends, through
// the long-lived client, as an informer's reflector does: LIST, then WATCH
// from the list's resourceVersion; when the stream ends, WATCH again from
// the last resourceVersion seen (a resume); on 410 Gone (the revision was
// compacted or the new apiserver's watch cache does not reach back) LIST
// again (a relist: events between are lost to the watcher, so every relist
// is a gap). Every ADDED object is recorded; a resourceVersion that goes
// backwards is counted (a regression).
func (p *Prober) Watch(ctx context.Context) {
	cms := p.long.CoreV1().ConfigMaps(p.cfg.Namespace)
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			l, err := cms.List(ctx, metav1.ListOptions{})
			if err != nil {
				p.noteErr(err)
				sleep(ctx, 100*time.Millisecond)
				continue
			}
			p.mu.Lock()
			for _, cm := range l.Items {
				p.seen[cm.Name] = true
			}
			p.mu.Unlock()
			rv = l.ResourceVersion
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) {
				p.mu.Lock()
				p.relists++
				p.mu.Unlock()
				rv = ""
				continue
			}
			p.noteErr(err)
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		rv = p.consume(ctx, w, rv)
		w.Stop()
		if ctx.Err() == nil && rv != "" {
			p.mu.Lock()
			p.resumes++
			p.mu.Unlock()
		}
	}
}

// consume reads w until it ends and returns the resourceVersion to resume
// from ("" = relist).
func (p *Prober) consume(ctx context.Context, w watch.Interface, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			if ev.Type == watch.Error {
				st := apierrors.FromObject(ev.Object)
				if apierrors.IsGone(st) || apierrors.IsResourceExpired(st) {
					p.mu.Lock()
					p.relists++
					p.mu.Unlock()
					return ""
				}
				p.noteErr(st)
				return rv
			}
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64)
			p.mu.Lock()
			if n < p.lastRV && ev.Type != watch.Bookmark {
				p.regress++
			}
			p.lastRV = max(p.lastRV, n)
			if ev.Type == watch.Added {
				p.seen[cm.Name] = true
			}
			p.mu.Unlock()
			rv = cm.ResourceVersion
		}
	}
}

func (p *Prober) noteErr(err error) {
	p.mu.Lock()
	p.watchErr = err.Error()
	p.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Result waits up to waitFor for the watch to reach the last acknowledged
// write, then LISTs the namespace through a fresh connection and compares.
// Call it after the writer stopped and while Watch still runs.
func (p *Prober) Result(ctx context.Context, waitFor time.Duration) (Result, error) {
	p.mu.Lock()
	acks := append([]Ack(nil), p.acks...)
	p.mu.Unlock()
	var maxRV int64
	for _, a := range acks {
		maxRV = max(maxRV, a.ResourceVersion)
	}
	// Not caught up when wait passes is what the comparison below reports.
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitFor, true, func(context.Context) (bool, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.lastRV >= maxRV, nil
	})
	present := map[string]bool{}
	var err error
	for try := 0; try < 50; try++ {
		var names []string
		if names, err = p.listNames(ctx); err == nil {
			for _, n := range names {
				present[n] = true
			}
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	if err != nil {
		return Result{}, fmt.Errorf("kube probe: final list: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return Verify(acks, present, p.seen, p.resumes, p.relists, p.regress), nil
}

// listNames LISTs the namespace's ConfigMap names over a new connection
// (the long-lived one may still point at a stopped apiserver).
func (p *Prober) listNames(ctx context.Context) ([]string, error) {
	tr := &http.Transport{DialContext: p.cfg.Dial, TLSClientConfig: p.tls.Clone(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	cs, err := newClientset(p.cfg, tr)
	if err != nil {
		return nil, err
	}
	l, err := cs.CoreV1().ConfigMaps(p.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l.Items))
	for i, cm := range l.Items {
		out[i] = cm.Name
	}
	return out, nil
}
