package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// LabelCanaryWebhook marks the pod of the leader: the canary webhook's
// Service selects it, because only the leader runs the canaries' plans and
// holds their deletion ledgers (a replica that is not the leader answers
// 404, which fails the canary's writes closed).
const LabelCanaryWebhook = "handover.dev/canary-webhook"

// leaderLabel returns two runnables for the pod namespace/name: one that,
// on every replica at start, removes LabelCanaryWebhook from its own pod (a
// restarted container of a former leader must not stay selected), and one
// that runs only on the leader and sets LabelCanaryWebhook=serving, then
// removes it when the manager stops. Errors of the patch stop the manager:
// a leader the Service cannot select serves no canary.
func leaderLabel(c client.Client, namespace, name string) (unset, set manager.Runnable) {
	patch := func(ctx context.Context, value any) error {
		p := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%s}}}`, LabelCanaryWebhook, value)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		if err := c.Patch(ctx, pod, client.RawPatch("application/merge-patch+json", p)); err != nil {
			return fmt.Errorf("label pod %s/%s %s: %w", namespace, name, LabelCanaryWebhook, err)
		}
		return nil
	}
	unset = nonLeader(func(ctx context.Context) error { return patch(ctx, "null") })
	set = manager.RunnableFunc(func(ctx context.Context) error {
		if err := patch(ctx, `"serving"`); err != nil {
			return err
		}
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return patch(sctx, "null")
	})
	return unset, set
}

// nonLeader is a runnable every replica runs once at start.
type nonLeader func(ctx context.Context) error

func (f nonLeader) Start(ctx context.Context) error { return f(ctx) }
func (nonLeader) NeedLeaderElection() bool          { return false }
