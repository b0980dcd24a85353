package etcd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/utils/clock"
)

// Why a leadership transfer costs client writes, and what makes it free.
//
// While a raft leader transfers leadership it drops every proposal
// (raft.ErrProposalDropped): one made on the leader itself fails at once
// ("raft proposal dropped", gRPC code Unknown), one a follower forwarded is
// dropped silently and its client waits for etcd's request timeout
// (5 s + 2 election timeouts) to get "request timed out". Then every voter
// that receives the transferee's vote request follows it with no known
// leader until the new leader's first append, and drops proposals too. On
// loopback the window lasts a few milliseconds (two fsyncs and three
// hops); a client writing at 50/s loses about one write per transfer.
// clientv3 never retries a mutation after its request reached a server
// (retry.go isSafeRetryMutableRPC), so every dropped proposal is an error
// the client sees (etcd issue #8975). No ordering of members or choice of
// transferee avoids the window: a client's write always reaches some
// member's raft. What avoids it is no write arriving during the window: a
// hold on the clients' path (a proxy that stops forwarding, clients that
// pause) while no request is in flight, released once every voter follows
// the new leader. TransferLeadership does exactly that; without a hold it
// is a plain MoveLeader that waits for every voter to follow.

// ClientHold pauses and resumes the clients' requests around a leadership
// transfer. Hold returns once no new client request will be sent to any
// member (requests already sent may still complete); Release lets them
// flow again. Both are called once per transfer, Release also when the
// transfer failed.
type ClientHold interface {
	Hold(ctx context.Context) error
	Release(ctx context.Context) error
}

// HoldFuncs adapts two functions to ClientHold; a nil function does
// nothing.
type HoldFuncs struct {
	OnHold, OnRelease func(ctx context.Context) error
}

// Hold calls OnHold.
func (h HoldFuncs) Hold(ctx context.Context) error {
	if h.OnHold == nil {
		return nil
	}
	return h.OnHold(ctx)
}

// Release calls OnRelease.
func (h HoldFuncs) Release(ctx context.Context) error {
	if h.OnRelease == nil {
		return nil
	}
	return h.OnRelease(ctx)
}

// Holds holds every member in order and releases them in reverse order.
// When one fails to hold, those already held are released and the error
// is returned. Nil members are skipped.
type Holds []ClientHold

// Hold holds each in order (see Holds).
func (hs Holds) Hold(ctx context.Context) error {
	for i, h := range hs {
		if h == nil {
			continue
		}
		if err := h.Hold(ctx); err != nil {
			return errors.Join(err, Holds(hs[:i]).Release(context.WithoutCancel(ctx)))
		}
	}
	return nil
}

// Release releases each in reverse order and joins their errors.
func (hs Holds) Release(ctx context.Context) error {
	var errs []error
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i] != nil {
			errs = append(errs, hs[i].Release(ctx))
		}
	}
	return errors.Join(errs...)
}

// Defaults of TransferOptions' zero values.
const (
	DefaultQuietTimeout    = 2 * time.Second
	DefaultFollowTimeout   = 10 * time.Second
	DefaultTransferPoll    = 20 * time.Millisecond
	transferReleaseTimeout = 10 * time.Second
)

// TransferOptions configure TransferLeadership.
type TransferOptions struct {
	// Hold, when set, pauses the clients from before the transfer until
	// every voter follows the new leader; nil = no hold (a plain
	// MoveLeader: clients writing during it may see errors).
	Hold ClientHold
	// QuietTimeout bounds the wait, under the hold, for the client
	// requests in flight to finish (0 = DefaultQuietTimeout); when it
	// passes the transfer is made anyway (Transfer.InFlight > 0).
	QuietTimeout time.Duration
	// FollowTimeout bounds the wait for every voter to report the new
	// leader after MoveLeader returned (0 = DefaultFollowTimeout).
	FollowTimeout time.Duration
	// Poll is the sampling period of both waits (0 = DefaultTransferPoll).
	Poll  time.Duration
	Clock clock.Clock // nil = real clock
	// MetricsURL returns where a voter serves its own client traffic's
	// metrics (see Config.MetricsURL; nil or "" = its client URL).
	MetricsURL func(Member) string
}

// Transfer is one measured leadership transfer.
type Transfer struct {
	From, To string // member labels (name or hex ID)
	Held     bool   // a ClientHold paused the clients
	// Quiet is how long, under the hold, the client requests in flight
	// took to finish; Moved is MoveLeader's duration; Followed is from
	// MoveLeader's return until every voter reported the new leader. Held
	// clients waited at most Quiet + Moved + Followed plus the hold's own
	// latency.
	Quiet, Moved, Followed time.Duration
	// InFlight is the client requests (KV, Lease) in flight on the voters
	// when MoveLeader was sent, by the members' own /metrics: 0 when every
	// client was held. Each of them, and each request an unheld client sent
	// during the transfer, may have failed.
	InFlight float64
}

// String renders t for the report, e.g. "s1 → t1 held: quiet 12ms, move
// 31ms, followed 4ms".
func (t Transfer) String() string {
	how := "not held"
	if t.Held {
		how = "held"
	}
	return fmt.Sprintf("%s → %s %s: quiet %s, move %s, followed %s, client requests in flight at the move %.0f",
		t.From, t.To, how, t.Quiet.Round(time.Millisecond), t.Moved.Round(time.Millisecond),
		t.Followed.Round(time.Millisecond), t.InFlight)
}

// TransferLeadership moves leadership from leader (the current leader, one
// of voters) to the voter to:
//
//  1. with o.Hold: hold the clients, then wait until the voters' /metrics
//     show no KV or Lease request in flight (one reading after o.Poll; after
//     o.QuietTimeout it moves anyway and records what was in flight: some
//     clients were not held);
//  2. MoveLeader on the leader's client URL;
//  3. wait until every voter's Status reports to as its leader
//     (o.FollowTimeout), so no member drops a proposal any more;
//  4. release the hold (always, also after an error; bounded by 10 s).
//
// It returns the measurement and an error: the hold's, MoveLeader's, or a
// timeout naming the voters that do not follow yet. Nothing is retried.
// Cutover plans that must keep every client write (the etcd migration's
// move-leader and remove steps, a control-plane cutover) call it instead
// of Cluster.MoveLeader.
func TransferLeadership(ctx context.Context, c *Cluster, voters []Member, leader Member, to uint64, o TransferOptions) (tr Transfer, err error) {
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	poll := cmpDur(o.Poll, DefaultTransferPoll)
	tr = Transfer{From: sourceName(leader), To: fmt.Sprintf("%x", to), Held: o.Hold != nil}
	if m := findID(voters, to); m != nil {
		tr.To = sourceName(*m)
	}
	if o.Hold != nil {
		if err := o.Hold.Hold(ctx); err != nil {
			return tr, fmt.Errorf("hold clients before moving leadership %s → %s: %w", tr.From, tr.To, err)
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), transferReleaseTimeout)
			defer cancel()
			if rerr := o.Hold.Release(rctx); rerr != nil {
				err = errors.Join(err, fmt.Errorf("release clients after moving leadership %s → %s: %w", tr.From, tr.To, rerr))
			}
		}()
		start := clk.Now()
		tr.InFlight = waitQuiet(ctx, c, voters, o.MetricsURL, cmpDur(o.QuietTimeout, DefaultQuietTimeout), poll, clk)
		tr.Quiet = clk.Since(start)
		if err := ctx.Err(); err != nil {
			return tr, err
		}
	} else if busy, err := inFlight(ctx, c, voters, o.MetricsURL); err == nil {
		tr.InFlight = sumValues(busy)
	}
	start := clk.Now()
	if err := c.MoveLeader(ctx, leader, to); err != nil {
		return tr, err
	}
	tr.Moved = clk.Since(start)
	start = clk.Now()
	err = waitFollow(ctx, c, voters, to, cmpDur(o.FollowTimeout, DefaultFollowTimeout), poll, clk)
	tr.Followed = clk.Since(start)
	return tr, err
}

// waitQuiet waits poll (for requests sent just before the hold to reach
// their member), then polls until a reading shows no client request in
// flight on any voter, or timeout passes (some clients are not held, or a
// request is stuck), and returns the last reading's total: 0 when quiet.
// An unreadable member counts as busy (1). One reading suffices: under the
// hold no request starts after it, and a scrape takes longer than a
// request already sent takes to arrive.
func waitQuiet(ctx context.Context, c *Cluster, voters []Member, metricsURL func(Member) string, timeout, poll time.Duration, clk clock.Clock) float64 {
	deadline := clk.Now().Add(timeout)
	for {
		select {
		case <-ctx.Done():
			return 1
		case <-clk.After(poll):
		}
		busy, err := inFlight(ctx, c, voters, metricsURL)
		n := sumValues(busy)
		if err != nil {
			n++
		}
		if n == 0 || !clk.Now().Before(deadline) {
			return n
		}
	}
}

// inFlight reads every voter's /metrics (metricsBase) and returns, per
// member label, its unary KV and Lease requests in flight: started minus
// handled (grpc_server_started_total − grpc_server_handled_total).
func inFlight(ctx context.Context, c *Cluster, voters []Member, metricsURL func(Member) string) (map[string]float64, error) {
	out := map[string]float64{}
	type res struct {
		label string
		n     float64
		err   error
	}
	ch := make(chan res, len(voters))
	n := 0
	for _, m := range voters {
		if m.IsLearner || len(m.ClientURLs) == 0 {
			continue
		}
		n++
		go func() {
			var v float64
			err := c.scrape(ctx, metricsBase(metricsURL, m), func(r io.Reader) error {
				var err error
				v, err = ParseInFlight(r)
				return err
			})
			ch <- res{memberLabel(m), v, err}
		}()
	}
	var errs []error
	for range n {
		r := <-ch
		if r.err != nil {
			errs = append(errs, fmt.Errorf("metrics of %s: %w", r.label, r.err))
			continue
		}
		out[r.label] = r.n
	}
	return out, errors.Join(errs...)
}

// ParseInFlight reads Prometheus text exposition from an etcd member's
// /metrics and returns its unary KV and Lease requests in flight: the sum
// of grpc_server_started_total minus that of grpc_server_handled_total
// (all codes) over those calls, never below 0. A malformed value errors.
func ParseInFlight(r io.Reader) (float64, error) {
	var started, handled float64
	err := eachSample(r, func(name, labels string) bool {
		return (name == "grpc_server_started_total" || name == "grpc_server_handled_total") &&
			strings.Contains(labels, `grpc_type="unary"`) && containsAny(labels, clientServices)
	}, func(name, _ string, v float64) {
		if name == "grpc_server_started_total" {
			started += v
		} else {
			handled += v
		}
	})
	if err != nil {
		return 0, err
	}
	return max(started-handled, 0), nil
}

// waitFollow polls until every voter's Status reports to as its leader.
func waitFollow(ctx context.Context, c *Cluster, voters []Member, to uint64, timeout, poll time.Duration, clk clock.Clock) error {
	deadline := clk.Now().Add(timeout)
	for {
		var behind []string
		for _, s := range c.Statuses(ctx, voters) {
			switch {
			case !s.Healthy():
				behind = append(behind, fmt.Sprintf("%s (%v)", memberLabel(s.Member), s.Err))
			case s.Status.Leader != to:
				behind = append(behind, fmt.Sprintf("%s (leader %x)", memberLabel(s.Member), s.Status.Leader))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if !clk.Now().Before(deadline) {
			return fmt.Errorf("leadership moved to %x but after %s these voters do not follow it: %s", to, timeout, strings.Join(behind, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clk.After(poll):
		}
	}
}

func sumValues(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

func cmpDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
