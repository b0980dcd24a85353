package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// DefaultRequestTimeout bounds one etcd request made by the migration.
const DefaultRequestTimeout = 5 * time.Second

// Cluster is the migration's connection to the cluster under change. Its
// client's endpoints are refreshed from MemberList (voters and learners'
// client URLs) whenever the steps read the membership, so it follows the
// cluster onto the target members.
type Cluster struct {
	client  *clientv3.Client
	tls     *tls.Config
	clk     clock.PassiveClock
	timeout time.Duration
}

// Connect opens a client to endpoints (client URLs) with tlsConfig (nil =
// plain http) and checks that at least one answers MemberList within
// DefaultRequestTimeout. The error wraps ErrUnreachable and names the
// endpoints. clk times RTT measurements (nil = real clock).
func Connect(ctx context.Context, endpoints []string, tlsConfig *tls.Config, clk clock.PassiveClock) (*Cluster, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: no endpoints", ErrInvalidConfig)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		TLS:         tlsConfig,
		DialTimeout: DefaultRequestTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %w", ErrUnreachable, endpoints, err)
	}
	c := &Cluster{client: cli, tls: tlsConfig, clk: clk, timeout: DefaultRequestTimeout}
	for _, ep := range endpoints {
		if _, _, err := c.Status(ctx, ep); err != nil {
			_ = cli.Close()
			return nil, fmt.Errorf("%w: endpoint %s: %w", ErrUnreachable, ep, err)
		}
	}
	return c, nil
}

// ConnectAny is Connect for a resumed migration: some of endpoints may be
// members that were already removed, so it succeeds when at least one
// answers and points the client at the current voters.
func ConnectAny(ctx context.Context, endpoints []string, tlsConfig *tls.Config, clk clock.PassiveClock) (*Cluster, error) {
	var errs []error
	for _, ep := range endpoints {
		c, err := Connect(ctx, []string{ep}, tlsConfig, clk)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := c.Members(ctx); err != nil {
			_ = c.Close()
			errs = append(errs, err)
			continue
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: none of %v answered: %w", ErrUnreachable, endpoints, errors.Join(errs...))
}

// VoterEndpoints returns the client URLs of the current voters.
func (c *Cluster) VoterEndpoints(ctx context.Context) ([]string, error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return nil, err
	}
	return voterEndpoints(ms, 0), nil
}

// Client returns the underlying client (shared; do not Close it).
func (c *Cluster) Client() *clientv3.Client { return c.client }

// TLS returns the client TLS configuration (nil for plain http).
func (c *Cluster) TLS() *tls.Config { return c.tls }

// Close closes the client.
func (c *Cluster) Close() error { return c.client.Close() }

// Members returns the current membership (linearizable MemberList), sorted
// by name then ID (unnamed learners first), and points the client at every member's client URLs.
func (c *Cluster) Members(ctx context.Context) ([]Member, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.client.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("member list: %w", err)
	}
	out := make([]Member, 0, len(resp.Members))
	var eps []string
	for _, m := range resp.Members {
		out = append(out, Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner})
		if !m.IsLearner {
			eps = append(eps, m.ClientURLs...)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	if len(eps) > 0 {
		c.client.SetEndpoints(eps...)
	}
	return out, nil
}

// Status asks endpoint for its status and returns it with the round trip.
func (c *Cluster) Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := c.clk.Now()
	resp, err := c.client.Status(ctx, endpoint)
	rtt := c.clk.Since(start)
	if err != nil {
		return nil, rtt, err
	}
	return resp, rtt, nil
}

// MemberStatus is a member with its status (nil when unreachable).
type MemberStatus struct {
	Member
	Status *clientv3.StatusResponse
	RTT    time.Duration
	Err    error
}

// Healthy reports whether the member answered Status without errors.
func (s MemberStatus) Healthy() bool {
	return s.Err == nil && s.Status != nil && len(s.Status.Errors) == 0
}

// Statuses asks every member (first client URL) for its status. A member
// without client URLs (a learner not started yet) gets Err set.
func (c *Cluster) Statuses(ctx context.Context, members []Member) []MemberStatus {
	out := make([]MemberStatus, len(members))
	done := make(chan struct{}, len(members))
	for i, m := range members {
		go func() {
			defer func() { done <- struct{}{} }()
			out[i].Member = m
			if len(m.ClientURLs) == 0 {
				out[i].Err = errors.New("no client URL (not started)")
				return
			}
			out[i].Status, out[i].RTT, out[i].Err = c.Status(ctx, m.ClientURLs[0])
		}()
	}
	for range members {
		<-done
	}
	return out
}

// Leader returns the leader's ID as reported by the healthy members (the
// most common non-zero answer), or ErrNoLeader.
func Leader(sts []MemberStatus) (uint64, error) {
	votes := map[uint64]int{}
	var best uint64
	for _, s := range sts {
		if s.Healthy() && s.Status.Leader != 0 {
			votes[s.Status.Leader]++
			if votes[s.Status.Leader] > votes[best] {
				best = s.Status.Leader
			}
		}
	}
	if best == 0 {
		return 0, ErrNoLeader
	}
	return best, nil
}

// MoveLeader transfers leadership to transferee. etcd accepts MoveLeader
// only on the leader, so the request goes to a client dialled to the
// leader's client URL alone.
func (c *Cluster) MoveLeader(ctx context.Context, leader Member, transferee uint64) error {
	if len(leader.ClientURLs) == 0 {
		return fmt.Errorf("leader %x has no client URL", leader.ID)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: leader.ClientURLs[:1], TLS: c.tls, DialTimeout: c.timeout, Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("dial leader %x: %w", leader.ID, err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 2*c.timeout)
	defer cancel()
	if _, err := cli.MoveLeader(ctx, transferee); err != nil {
		return fmt.Errorf("move leader %x → %x: %w", leader.ID, transferee, err)
	}
	return nil
}

func (c *Cluster) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Metrics scrapes the /metrics endpoint that etcd serves on every client
// URL (with the cluster's client TLS) and returns the sums of names (see
// ParseMetrics).
func (c *Cluster) Metrics(ctx context.Context, clientURL string, names ...string) (map[string]float64, error) {
	var out map[string]float64
	err := c.scrape(ctx, clientURL, func(r io.Reader) error {
		var err error
		out, err = ParseMetrics(r, names...)
		return err
	})
	return out, err
}

// scrape GETs clientURL's /metrics (cluster TLS, 2 s bound) and hands the
// body to parse.
func (c *Cluster) scrape(ctx context.Context, clientURL string, parse func(io.Reader) error) error {
	client := http.DefaultClient
	if c.tls != nil {
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: c.tls.Clone()}}
		defer client.CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	url := strings.TrimSuffix(clientURL, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parse(resp.Body)
}
