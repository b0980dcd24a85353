package etcd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// clientServices are the gRPC services whose unary calls count as a
// member's client traffic: reads, writes, transactions, leases. Maintenance
// (Status, HashKV) and Cluster (MemberList) calls are left out: handover
// itself keeps asking a leaving member those.
var clientServices = []string{`grpc_service="etcdserverpb.KV"`, `grpc_service="etcdserverpb.Lease"`}

// ParseClientRequests reads Prometheus text exposition from an etcd
// member's /metrics and returns how many client requests it has handled:
// the sum of grpc_server_handled_total over the unary calls of the KV and
// Lease services, all codes. It also returns the open Watch streams
// (grpc_server_started_total − grpc_server_handled_total of the Watch
// service's bidi streams). A malformed value errors.
func ParseClientRequests(r io.Reader) (handled float64, watches float64, err error) {
	var wStarted, wHandled float64
	isWatch := func(labels string) bool { return strings.Contains(labels, `grpc_service="etcdserverpb.Watch"`) }
	err = eachSample(r, func(name, labels string) bool {
		switch name {
		case "grpc_server_handled_total":
			return isWatch(labels) || strings.Contains(labels, `grpc_type="unary"`) && containsAny(labels, clientServices)
		case "grpc_server_started_total":
			return isWatch(labels)
		}
		return false
	}, func(name, labels string, v float64) {
		switch {
		case name == "grpc_server_started_total":
			wStarted += v
		case isWatch(labels):
			wHandled += v
		default:
			handled += v
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return handled, max(wStarted-wHandled, 0), nil
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// DrainSample is one reading of a member's client traffic.
type DrainSample struct {
	At      time.Time
	Handled float64 // ParseClientRequests' handled count
	Watches float64 // open watch streams
}

// Drained judges two readings of a leaving member's traffic, a and b (b
// later): it returns the client request rate between them (requests/s) and
// whether it is at most maxRate. Open watch streams do not hold the gate:
// a watch only reads, and etcd's started-minus-handled count of them also
// keeps streams of clients that died (seen with SIGKILLed handover runs).
// A counter that
// went backwards (the member restarted) counts from zero. Pure.
func Drained(a, b DrainSample, maxRate float64) (float64, bool) {
	dt := b.At.Sub(a.At).Seconds()
	if dt <= 0 {
		return 0, false
	}
	d := b.Handled - a.Handled
	if d < 0 {
		d = b.Handled
	}
	rate := d / dt
	return rate, rate <= maxRate
}

// CanStopBeforeRemove reports whether voter id may be stopped while still a
// member (a graceful stop before its removal, so its clients fail over
// first): the healthy voters other than id must reach Quorum of the current
// membership. It returns "" when safe, else the reason. Pure.
func CanStopBeforeRemove(voters []VoterHealth, id uint64) string {
	healthy, found := 0, false
	for _, v := range voters {
		if v.ID == id {
			found = true
			if v.Leader {
				return "it leads: move leadership first"
			}
			continue
		}
		if v.Healthy {
			healthy++
		}
	}
	if !found {
		return "not a voter"
	}
	if q := Quorum(len(voters)); healthy < q {
		return fmt.Sprintf("without it %d healthy voters remain of %d, below the quorum of %d", healthy, len(voters), q)
	}
	return ""
}

// metricsBase returns where m serves its own client traffic's metrics:
// metricsURL's answer, else its first client URL ("" when it has none).
func metricsBase(metricsURL func(Member) string, m Member) string {
	if metricsURL != nil {
		if u := metricsURL(m); u != "" {
			return u
		}
	}
	if len(m.ClientURLs) == 0 {
		return ""
	}
	return m.ClientURLs[0]
}

// drainSample scrapes m's /metrics (Config.MetricsURL, else its first
// client URL).
func (w *world) drainSample(ctx context.Context, m Member) (DrainSample, error) {
	base := metricsBase(w.cfg.MetricsURL, m)
	if base == "" {
		return DrainSample{}, fmt.Errorf("member %s has no client URL", memberLabel(m))
	}
	var s DrainSample
	err := w.cfg.Cluster.scrape(ctx, base, func(r io.Reader) error {
		var err error
		s.Handled, s.Watches, err = ParseClientRequests(r)
		return err
	})
	s.At = w.cfg.Clock.Now()
	return s, err
}

// waitDrained is the drain gate before removing m: it samples m's client
// traffic every DrainInterval until the rate is at most DrainMaxRate, or
// DrainTimeout passes (an error naming the member and its
// remaining rate). A member whose metrics cannot be read (stopped) counts as
// drained: no client can reach it either.
func (w *world) waitDrained(ctx context.Context, m Member, eps []string) error {
	prev, err := w.drainSample(ctx, m)
	if err != nil {
		return nil
	}
	deadline := w.cfg.Clock.Now().Add(w.cfg.DrainTimeout)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.cfg.Clock.After(w.cfg.DrainInterval):
		}
		cur, err := w.drainSample(ctx, m)
		if err != nil {
			return nil
		}
		rate, ok := Drained(prev, cur, w.cfg.DrainMaxRate)
		if ok {
			return nil
		}
		if !w.cfg.Clock.Now().Before(deadline) {
			return fmt.Errorf("%w: member %s still serves %.1f client requests/s (and %.0f watch streams) after %s (gate: at most %.1f/s): "+
				"its clients have not moved to %s; wire them to the endpoints hook, stop the member gracefully first (stop-source hook), or raise the limit",
				ErrNotDrained, memberLabel(m), rate, cur.Watches, w.cfg.DrainTimeout, w.cfg.DrainMaxRate, strings.Join(eps, ","))
		}
		prev = cur
	}
}
