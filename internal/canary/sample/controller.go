package sample

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Write is one successful write of the controller, reported to OnWrite.
//
// +kubebuilder:object:generate=false
type Write struct {
	Version string
	Verb    string    // create, update, delete, status
	Route   string    // namespace/name of the Route the object belongs to
	At      time.Time // when the write was sent
	Done    time.Time // when the apiserver's answer arrived
}

// Reconciler renders Routes into child ConfigMaps, as Version does. It is
// an unmodified controller: it knows nothing of the canary (it reconciles
// every Route it sees; enforcement keeps it off what it does not own).
//
// +kubebuilder:object:generate=false
type Reconciler struct {
	Client  client.Client
	Version string
	// OnWrite, when set, is called after every successful write (from the
	// controller's workers: must be safe for concurrent use).
	OnWrite func(Write)
	// Now stamps the start of writes (nil = time.Now).
	Now func() time.Time

	mu      sync.Mutex
	created map[types.NamespacedName]bool // v2's memory of the children it created
}

// Reconcile creates or updates route's child and writes status
// (observedGeneration, renderer) when it changed something.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var route Route
	if err := r.Client.Get(ctx, req.NamespacedName, &route); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !route.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	want := Child(&route, r.Version)
	var cm corev1.ConfigMap
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), &cm)
	wrote := false
	start := r.now()
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, want, client.FieldOwner("sample-"+r.Version)); err != nil {
			return reconcile.Result{}, fmt.Errorf("create configmap %s/%s: %w", want.Namespace, want.Name, err)
		}
		r.remember(client.ObjectKeyFromObject(want))
		r.wrote("create", req.NamespacedName, start)
		wrote = true
	case err != nil:
		return reconcile.Result{}, err
	case !sameData(cm.Data, want.Data):
		cm.Data = want.Data
		if err := r.Client.Update(ctx, &cm, client.FieldOwner("sample-"+r.Version)); err != nil {
			return reconcile.Result{}, fmt.Errorf("update configmap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		r.wrote("update", req.NamespacedName, start)
		wrote = true
	}
	if wrote || route.Status.ObservedGeneration != route.Generation {
		route.Status.ObservedGeneration = route.Generation
		route.Status.Renderer = r.Version
		start = r.now()
		if err := r.Client.Status().Update(ctx, &route, client.FieldOwner("sample-"+r.Version)); err != nil {
			return reconcile.Result{}, fmt.Errorf("update route status %s: %w", req.NamespacedName, err)
		}
		r.wrote("status", req.NamespacedName, start)
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler) remember(k types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.created == nil {
		r.created = map[types.NamespacedName]bool{}
	}
	r.created[k] = true
}

func (r *Reconciler) createdByMe(k types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.created[k]
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// wrote reports a successful write that started at start.
func (r *Reconciler) wrote(verb string, route types.NamespacedName, start time.Time) {
	if r.OnWrite != nil {
		r.OnWrite(Write{Version: r.Version, Verb: verb, Route: route.String(), At: start, Done: r.now()})
	}
}

// CleanupOrphans deletes the child ConfigMaps (LabelRoute) in namespace that
// are orphans. v1 and v3: a child whose Route is gone. v2 (the bug): every
// child this process did not create itself. Deletes run workers at a time
// (≤ 0 = 1), as a controller's workers would. It returns the number deleted
// and the first error; it goes on after a refused delete.
func (r *Reconciler) CleanupOrphans(ctx context.Context, namespace string, workers int) (int, error) {
	var cms corev1.ConfigMapList
	if err := r.Client.List(ctx, &cms, client.InNamespace(namespace), client.HasLabels{LabelRoute}); err != nil {
		return 0, err
	}
	var (
		mu    sync.Mutex
		n     int
		first error
		wg    sync.WaitGroup
	)
	next := make(chan *corev1.ConfigMap)
	for range max(workers, 1) {
		wg.Go(func() {
			for cm := range next {
				ok, err := r.cleanupOne(ctx, cm)
				mu.Lock()
				if ok {
					n++
				}
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	for i := range cms.Items {
		if ctx.Err() != nil {
			break
		}
		next <- &cms.Items[i]
	}
	close(next)
	wg.Wait()
	return n, first
}

// cleanupOne deletes cm when it is an orphan (see CleanupOrphans).
func (r *Reconciler) cleanupOne(ctx context.Context, cm *corev1.ConfigMap) (bool, error) {
	routeKey := types.NamespacedName{Namespace: cm.Namespace, Name: cm.Labels[LabelRoute]}
	if r.Version == V2 {
		if r.createdByMe(client.ObjectKeyFromObject(cm)) {
			return false, nil
		}
	} else {
		var route Route
		err := r.Client.Get(ctx, routeKey, &route)
		if err == nil || !apierrors.IsNotFound(err) {
			return false, nil
		}
	}
	start := r.now()
	if err := r.Client.Delete(ctx, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil // already gone (a stale cache): not a delete of ours
		}
		return false, fmt.Errorf("delete orphan configmap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	r.wrote("delete", routeKey, start)
	return true, nil
}

// Options configure Add.
//
// +kubebuilder:object:generate=false
type Options struct {
	// Namespace is the one namespace the controller watches and cleans.
	Namespace string
	// CleanupInterval is the period of orphan cleanup (first run right
	// after the caches synced); 0 = 2 s.
	CleanupInterval time.Duration
	// Workers is the number of concurrent reconciles and of concurrent
	// orphan-cleanup deletes; 0 = 4.
	Workers int
}

// Add registers the Route controller and the orphan-cleanup loop with mgr.
// The controller is named "route-<version>" so two versions can share a
// process.
func (r *Reconciler) Add(mgr manager.Manager, o Options) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	err := ctrl.NewControllerManagedBy(mgr).
		Named("route-" + r.Version).
		For(&Route{}).
		Owns(&corev1.ConfigMap{}).
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true), MaxConcurrentReconciles: o.Workers}).
		Complete(r)
	if err != nil {
		return err
	}
	every := o.CleanupInterval
	if every <= 0 {
		every = 2 * time.Second
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return nil
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if _, err := r.CleanupOrphans(ctx, o.Namespace, o.Workers); err != nil && ctx.Err() == nil {
				log.FromContext(ctx).V(1).Info("orphan cleanup incomplete", "version", r.Version, "error", err.Error())
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}))
}
