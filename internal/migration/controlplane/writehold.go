package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/internal/canary"
)

// Why the leader transfer needs a write hold (the cause of the failed write
// at --site-latency 50ms, etcd issue #8975):
//
//   - raft's leader drops every proposal while a transfer is pending
//     (go.etcd.io/raft/v3 raft.go stepLeader: "transfer leadership to %x is
//     in progress; dropping proposal"), and a follower whose leader is
//     unknown drops them too. A proposal a follower forwarded is dropped
//     silently: etcdserver waits its request timeout (5 s + 2 × election
//     timeout) and answers "etcdserver: request timed out"; one made on the
//     leader fails at once with "raft proposal dropped".
//   - clientv3 retries a mutable RPC only when it was never sent
//     (isSafeRetryMutableRPC), and kube-apiserver passes etcd's error
//     through unmapped (k8s.io/apiserver storage InterpretCreateError; the
//     open kubernetes #112152): the API client gets a 500 without
//     Retry-After, which client-go and kubectl do not retry.
//   - API Priority and Fairness cannot stop writes for a moment: a
//     priority level with no seats still dispatches one request whenever
//     none executes (queueset canAccommodateSeatsLocked), and system:masters
//     is always exempt.
//
// So the plan holds writes in admission instead: a validating webhook
// (handover's WriteHold, failurePolicy Ignore) that every apiserver calls
// for every create, update and delete — system:masters included — and
// that answers only once the leader has moved. The gate waits until no
// proposal is pending on any etcd member, so nothing admitted before the
// hold is in flight during the transfer. Clients see latency, not errors;
// reads and watches are not touched.

// WriteHoldWebhook is the name of the ValidatingWebhookConfiguration.
const WriteHoldWebhook = "handover-write-hold"

// holdCheckName is the name of the dry-run ConfigMap create the gate sends
// to learn that the apiserver calls the webhook (it is never held).
const holdCheckName = "handover-write-hold-check"

// DefaultMaxHold bounds how long one request is held (below the webhook's
// 10 s timeout, after which the apiserver would let it through anyway).
const DefaultMaxHold = 8 * time.Second

// WriteHold is handover's write-hold admission webhook: HTTPS on a
// listener the apiservers can reach, with a serving certificate of its own
// CA (the webhook configuration's caBundle). While held, every admission
// review waits until Release (at most MaxHold) and is then allowed; it
// never denies. Safe for concurrent use.
type WriteHold struct {
	// MaxHold bounds one request's wait (0 = DefaultMaxHold).
	MaxHold time.Duration
	srv     *canary.Server
	clk     clock.Clock

	mu       sync.Mutex
	released chan struct{} // open while holding; nil when not
	checks   int           // check requests seen during this hold
	reached  int           // check requests seen (all time)
	held     int           // requests held (all holds)
}

// StartWriteHold serves the webhook on addr (e.g. "127.0.0.1:0": the
// apiservers must reach it there); clk stamps its certificates and times
// the holds (nil = real clock).
func StartWriteHold(addr string, clk clock.Clock) (*WriteHold, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	srv, err := canary.StartServer(addr, clk)
	if err != nil {
		return nil, fmt.Errorf("write hold webhook: %w", err)
	}
	h := &WriteHold{srv: srv, clk: clk}
	srv.Handle("/hold", h)
	return h, nil
}

// Close stops serving (a configuration left behind is ignored by the
// apiservers: failurePolicy Ignore).
func (h *WriteHold) Close() error {
	h.Release()
	return h.srv.Close()
}

// Hold starts holding (idempotent).
func (h *WriteHold) Hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released == nil {
		h.released = make(chan struct{})
		h.checks = 0
	}
}

// Release lets every held request through (idempotent).
func (h *WriteHold) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released != nil {
		close(h.released)
		h.released = nil
	}
}

// state returns the hold's channel (nil when not holding), the check
// requests seen during it and the requests held so far.
func (h *WriteHold) state() (chan struct{}, int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.released, h.checks, h.held
}

// Held returns how many requests were held so far.
func (h *WriteHold) Held() int {
	_, _, n := h.state()
	return n
}

// Configuration is the ValidatingWebhookConfiguration that sends every
// create, update and delete (every group, version, resource and
// subresource, both scopes) to the hold; failurePolicy Ignore, so a hold
// that is gone costs nothing.
func (h *WriteHold) Configuration() *admissionregistrationv1.ValidatingWebhookConfiguration {
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WriteHoldWebhook, Labels: map[string]string{"app.kubernetes.io/managed-by": "handover"}},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "write-hold.handover.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL: ptr.To(h.srv.URL() + "/hold"), CABundle: h.srv.CABundle()},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"},
					Resources: []string{"*/*"}, Scope: ptr.To(admissionregistrationv1.AllScopes)},
			}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](10),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

// ServeHTTP answers one AdmissionReview v1: the gate's check at once, any
// other request once the hold is released (or after MaxHold, or when the
// apiserver gives up); always allowed.
func (h *WriteHold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rev admissionv1.AdmissionReview
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&rev); err != nil || rev.Request == nil {
		http.Error(w, "want an AdmissionReview v1", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	wait := h.released
	isCheck := rev.Request.Name == holdCheckName && ptr.Deref(rev.Request.DryRun, false)
	if isCheck {
		h.reached++
	}
	switch {
	case wait != nil && isCheck:
		h.checks++
		wait = nil
	case wait != nil:
		h.held++
	}
	h.mu.Unlock()
	if wait != nil {
		limit := h.MaxHold
		if limit <= 0 {
			limit = DefaultMaxHold
		}
		select {
		case <-wait:
		case <-h.clk.After(limit):
		case <-r.Context().Done():
			return
		}
	}
	rev.Response = &admissionv1.AdmissionResponse{UID: rev.Request.UID, Allowed: true}
	rev.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&rev)
}

// Install creates (or replaces) the webhook configuration through cs.
func (h *WriteHold) Install(ctx context.Context, cs kubernetes.Interface) error {
	api := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	want := h.Configuration()
	got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
	case err == nil:
		// A killed run's configuration points at its dead server.
		want.ResourceVersion = got.ResourceVersion
		_, err = api.Update(ctx, want, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write hold: validatingwebhookconfiguration %s: %w", want.Name, err)
	}
	return nil
}

// UninstallWriteHold deletes the webhook configuration through cs; absent
// is not an error.
func UninstallWriteHold(ctx context.Context, cs kubernetes.Interface) error {
	err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, WriteHoldWebhook, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("write hold: delete validatingwebhookconfiguration %s: %w", WriteHoldWebhook, err)
	}
	return nil
}

// SendHoldCheck POSTs the gate's dry-run ConfigMap create (never stored)
// with rc, without retrying; a hold counts it (CheckSeen) if the apiserver
// called the webhook.
func SendHoldCheck(ctx context.Context, rc *rest.Config) error {
	tr, err := rest.TransportFor(rc)
	if err != nil {
		return err
	}
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + holdCheckName + `"}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(rc.Host, "/")+"/api/v1/namespaces/default/configmaps?dryRun=All", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("write hold check: dry-run create: %s", resp.Status)
	}
	return nil
}

// CheckSeen reports whether a SendHoldCheck reached the webhook during the
// current hold.
func (h *WriteHold) CheckSeen() bool {
	_, n, _ := h.state()
	return n > 0
}

// Reachable checks, before anything changes, that the apiserver behind cs
// and rc calls the hold: it installs the configuration (not holding:
// requests pass at once), sends dry-run checks until one reaches the
// webhook or within expires, and deletes the configuration again. An error
// names what failed (unreachable: the apiserver cannot dial the listen
// address, or rejects its certificate).
func (h *WriteHold) Reachable(ctx context.Context, cs kubernetes.Interface, rc *rest.Config, within time.Duration) (err error) {
	h.mu.Lock()
	before := h.reached
	h.mu.Unlock()
	if err := h.Install(ctx, cs); err != nil {
		return err
	}
	defer func() {
		if uerr := UninstallWriteHold(context.WithoutCancel(ctx), cs); uerr != nil && err == nil {
			err = uerr
		}
	}()
	deadline := h.clk.Now().Add(within)
	for {
		if err := SendHoldCheck(ctx, rc); err != nil {
			return err
		}
		h.mu.Lock()
		seen := h.reached > before
		h.mu.Unlock()
		if seen {
			return nil
		}
		if h.clk.Now().After(deadline) {
			return fmt.Errorf("write hold: the apiserver did not call the webhook at %s within %s (can it reach that address?)", h.srv.URL(), within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.clk.After(200 * time.Millisecond):
		}
	}
}
