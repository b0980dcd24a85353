package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/handover-dev/handover/internal/plan"
)

// holdSettle is how long the hold must have been in effect before the
// transfer: a write admitted just before reaches etcd within a few round
// trips between the sites.
func holdSettle(siteRTT time.Duration) time.Duration {
	return 250*time.Millisecond + 4*siteRTT
}

// holdTimeout bounds clientHold.Hold's wait for the hold to be in effect.
const holdTimeout = time.Minute

// holdPoll is the period of clientHold.Hold's gate.
const holdPoll = 100 * time.Millisecond

// clientHold is the WriteHold as the etcd leader transfer's ClientHold
// (etcd Config.Hold; etcdmig.TransferLeadership holds before MoveLeader and
// releases once every voter follows the new leader, also when the transfer
// failed). So the hold spans exactly the transfers the etcd steps make —
// the move-leader step's, and a removal's when it must move the leader —
// and a run resumed after a kill holds again simply by running the step
// again. Safe for concurrent use.
type clientHold struct {
	c *Config

	mu    sync.Mutex
	start time.Time // the running hold's start (zero when not holding)
}

// Hold starts holding, installs the webhook configuration through the
// target apiserver and returns once the hold is in effect: a dry-run check
// sent through the target apiserver reached the webhook during this hold,
// holdSettle has passed since the first one did, and no etcd member has a
// proposal pending — so the transfer drops no proposal (raft drops them
// while a transfer is pending; kube-apiserver turns that into a 500). It
// returns the Install error, or after holdTimeout an error naming the
// condition still unmet; on error it has released the writes and deleted
// the configuration itself (TransferLeadership releases only a hold that
// succeeded).
func (h *clientHold) Hold(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err = errors.Join(err, h.Release(rctx))
		}
	}()
	return h.hold(ctx)
}

func (h *clientHold) hold(ctx context.Context) error {
	c := h.c
	h.mu.Lock()
	h.start = c.Clock.Now()
	h.mu.Unlock()
	c.WriteHold.Hold()
	cs, err := kubernetes.NewForConfig(c.Endpoint.At(c.Target.Addr))
	if err != nil {
		return err
	}
	if err := c.WriteHold.Install(ctx, cs); err != nil {
		return err
	}
	deadline := c.Clock.Now().Add(holdTimeout)
	var effectiveAt time.Time
	for {
		why := h.notInEffect(ctx, &effectiveAt)
		if why == "" {
			return nil
		}
		if !c.Clock.Now().Before(deadline) {
			return fmt.Errorf("write hold not in effect within %s: %s", holdTimeout, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Clock.After(holdPoll):
		}
	}
}

// notInEffect returns "" once the hold is in effect (see Hold), else why
// not; *effectiveAt records the first poll that saw the apiserver call the
// hold.
func (h *clientHold) notInEffect(ctx context.Context, effectiveAt *time.Time) string {
	c := h.c
	if err := SendHoldCheck(ctx, c.Endpoint.At(c.Target.Addr)); err != nil {
		return err.Error()
	}
	if !c.WriteHold.CheckSeen() {
		return "the target apiserver does not call the write hold yet"
	}
	now := c.Clock.Now()
	if effectiveAt.IsZero() {
		*effectiveAt = now
	}
	if since, want := now.Sub(*effectiveAt), holdSettle(c.SiteRTT); since < want {
		return fmt.Sprintf("writes held for %s of %s", since.Round(10*time.Millisecond), want)
	}
	return pendingProposals(ctx, c)
}

// Release lets the held writes through (they reach the new leader),
// records the hold's length and the requests held in Stats, and deletes
// the webhook configuration. It returns the delete's error.
func (h *clientHold) Release(ctx context.Context) error {
	c := h.c
	c.WriteHold.Release()
	h.mu.Lock()
	if !h.start.IsZero() {
		c.Stats.WriteHold += c.Clock.Since(h.start)
		h.start = time.Time{}
	}
	h.mu.Unlock()
	c.Stats.HeldWrites = c.WriteHold.Held()
	return uninstallAnywhere(ctx, c)
}

// pendingProposals returns "" when no etcd member has a proposal pending
// (etcd_server_proposals_pending on its /metrics), else why not.
func pendingProposals(ctx context.Context, c *Config) string {
	cl := c.Etcd.Cluster
	ms, err := cl.Members(ctx)
	if err != nil {
		return err.Error()
	}
	for _, m := range ms {
		if len(m.ClientURLs) == 0 {
			continue
		}
		got, err := cl.Metrics(ctx, m.ClientURLs[0], "etcd_server_proposals_pending")
		if err != nil {
			return fmt.Sprintf("member %s: %v", m.Name, err)
		}
		if n := got["etcd_server_proposals_pending"]; n > 0 {
			return fmt.Sprintf("member %s has %.0f proposals pending", m.Name, n)
		}
	}
	return ""
}

// uninstallAnywhere deletes the hold's configuration through whichever
// apiserver answers (target first: the source is stopped when the hold is
// made).
func uninstallAnywhere(ctx context.Context, c *Config) error {
	var errs []error
	for _, a := range []netip.Addr{c.Target.Addr, c.Source.Addr} {
		cs, err := kubernetes.NewForConfig(c.Endpoint.At(a))
		if err == nil {
			err = UninstallWriteHold(ctx, cs)
		}
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// heldMove is etcd's move-leader step when the plan has a write hold (the
// hold itself is the etcd Config.Hold, clientHold). It makes the hold's
// configuration part of the step: Check is Done only once the webhook
// configuration is gone — a run killed while holding left it behind,
// pointing at its dead server (failurePolicy Ignore lets writes pass, but
// each pays a failed call) — and Revert releases and deletes it too.
// Apply and Timeout are the move's.
type heldMove struct {
	plan.Step
	c *Config
}

func (h *heldMove) Check(ctx context.Context) plan.Result {
	r := h.Step.Check(ctx)
	if r.State != plan.CheckDone {
		return r
	}
	if err := uninstallAnywhere(ctx, h.c); err != nil {
		return plan.NotYet(err.Error())
	}
	return r
}

func (h *heldMove) Revert(ctx context.Context) error {
	h.c.WriteHold.Release()
	return errors.Join(h.Step.Revert(ctx), uninstallAnywhere(ctx, h.c))
}

func (h *heldMove) Describe() string {
	d := ""
	if ds, ok := h.Step.(plan.Describer); ok {
		d = ds.Describe() + "; "
	}
	return d + fmt.Sprintf("the hold is validating webhook %q (handover's write hold, failurePolicy Ignore) for every create, update and delete, registered through the target apiserver: the apiservers wait for its answer, which comes once every voter follows the new leader (at most %s); in effect once the apiserver calls it, %s passed and no proposal is pending on any etcd member (at most %s); gate: also the webhook is deleted; revert: release and delete it",
		WriteHoldWebhook, DefaultMaxHold, holdSettle(h.c.SiteRTT), holdTimeout)
}

func (h *heldMove) Timeout() time.Duration {
	if t, ok := h.Step.(plan.Timeouter); ok {
		return t.Timeout()
	}
	return 0
}

// holdReachable is the preflight's write-hold check, through the source
// apiserver (it must reach the webhook too while it serves).
func (c *Config) holdReachable(ctx context.Context) error {
	rc := c.Endpoint.At(c.Source.Addr)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	return c.WriteHold.Reachable(ctx, cs, rc, 20*time.Second)
}
