package etcd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Embedded runs members inside this process with
// go.etcd.io/etcd/server/v3/embed: for the demo and tests. Members die with
// the process.
type Embedded struct {
	// BaseDir holds one data directory per member (BaseDir/<name>).
	BaseDir string
	// LogLevel is the members' zap level ("" = no logs).
	LogLevel string
	// MaxLearners is --max-learners (0 = etcd's default, 1).
	MaxLearners int
	// SnapshotCount is --snapshot-count (0 = etcd's default).
	SnapshotCount uint64
	// TLS serves clients of every member this provisioner starts over TLS
	// when a MemberSpec has none; StartCluster then uses https client URLs.
	TLS *MemberTLS
	// Flags are etcd flags ("--KEY=VALUE", see applyEmbeddedFlags) every
	// member this provisioner starts runs with, before a MemberSpec's own.
	Flags []string

	mu      sync.Mutex
	members map[string]*embeddedMember
}

// embeddedMember closes its server once, either when asked or when the
// server stops on its own (removed from the cluster) — what the etcd binary
// does by exiting, so clients' streams to it break and move elsewhere.
type embeddedMember struct {
	e       *embed.Etcd
	metrics *memberMetrics
	once    sync.Once
}

func (m *embeddedMember) close() {
	m.once.Do(func() {
		closeEmbedded(m.e)
		m.metrics.close()
	})
}

// Kind returns "embedded".
func (p *Embedded) Kind() string { return "embedded" }

// Version returns the etcd version compiled into this binary.
func (p *Embedded) Version(context.Context) (string, error) { return version.Version, nil }

// Start starts spec's member in-process and returns once its servers
// listen (a joining learner is not ready until it caught up; the catch-up
// gate waits for that). A member already running under spec.Name → nil.
func (p *Embedded) Start(_ context.Context, spec MemberSpec) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.members == nil {
		p.members = map[string]*embeddedMember{}
	}
	if _, ok := p.members[spec.Name]; ok {
		return nil
	}
	cfg, err := p.config(spec)
	if err != nil {
		return err
	}
	mm, sm, err := newMemberMetrics()
	if err != nil {
		return fmt.Errorf("metrics of embedded member %q: %w", spec.Name, err)
	}
	cfg.GRPCAdditionalServerOptions = append(cfg.GRPCAdditionalServerOptions, serverOptions(sm)...)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		mm.close()
		return fmt.Errorf("start embedded member %q: %w", spec.Name, err)
	}
	m := &embeddedMember{e: e, metrics: mm}
	p.members[spec.Name] = m
	go func() {
		<-e.Server.StopNotify()
		m.close()
	}()
	return nil
}

func (p *Embedded) config(spec MemberSpec) (*embed.Config, error) {
	if p.BaseDir == "" {
		return nil, fmt.Errorf("%w: Embedded.BaseDir is empty", ErrInvalidConfig)
	}
	cfg := embed.NewConfig()
	cfg.Name = spec.Name
	cfg.Dir = filepath.Join(p.BaseDir, spec.Name)
	if p.LogLevel == "" {
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	} else {
		cfg.LogLevel = p.LogLevel
	}
	if p.MaxLearners != 0 {
		cfg.MaxLearners = p.MaxLearners
	}
	if p.SnapshotCount != 0 {
		cfg.SnapshotCount = p.SnapshotCount
	}
	peer, err := parseURLs(spec.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("member %q peer URL: %w", spec.Name, err)
	}
	client, err := parseURLs(spec.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("member %q client URL: %w", spec.Name, err)
	}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = peer, peer
	if spec.ListenPeerURL != "" {
		if cfg.ListenPeerUrls, err = parseURLs(spec.ListenPeerURL); err != nil {
			return nil, fmt.Errorf("member %q listen peer URL: %w", spec.Name, err)
		}
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = client, client
	cfg.InitialCluster = spec.InitialCluster
	cfg.ClusterState = spec.ClusterState
	if cfg.ClusterState == "" {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	if spec.ClusterToken != "" {
		cfg.InitialClusterToken = spec.ClusterToken
	}
	t := spec.TLS
	if t == nil {
		t = p.TLS
	}
	if t != nil {
		cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = t.CertFile, t.KeyFile
		cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = t.TrustedCAFile, t.ClientCertAuth
		if strings.HasPrefix(spec.PeerURL, "https") {
			cfg.PeerTLSInfo = cfg.ClientTLSInfo
		}
	}
	if err := applyEmbeddedFlags(cfg, append(append([]string(nil), p.Flags...), spec.Flags...)); err != nil {
		return nil, fmt.Errorf("member %q: %w", spec.Name, err)
	}
	return cfg, nil
}

// applyEmbeddedFlags sets the etcd flags the embedded provisioner supports
// (quota-backend-bytes, snapshot-count, max-request-bytes) on cfg; any
// other flag is an error wrapping ErrInvalidConfig naming it.
func applyEmbeddedFlags(cfg *embed.Config, flags []string) error {
	for _, f := range flags {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil && (k == "quota-backend-bytes" || k == "snapshot-count" || k == "max-request-bytes") {
			return fmt.Errorf("%w: flag %s: want an integer: %w", ErrInvalidConfig, f, err)
		}
		switch k {
		case "quota-backend-bytes":
			cfg.QuotaBackendBytes = n
		case "snapshot-count":
			cfg.SnapshotCount = uint64(max(n, 0))
		case "max-request-bytes":
			cfg.MaxRequestBytes = uint(max(n, 0))
		default:
			return fmt.Errorf("%w: flag %s: the embedded provisioner supports only --quota-backend-bytes, --snapshot-count and --max-request-bytes", ErrInvalidConfig, f)
		}
	}
	return nil
}

// Stop closes the member (if this provisioner runs it) and deletes its data
// directory.
func (p *Embedded) Stop(ctx context.Context, name string) error {
	if err := p.Shutdown(ctx, name); err != nil {
		return err
	}
	if p.BaseDir == "" {
		return nil
	}
	return os.RemoveAll(filepath.Join(p.BaseDir, name))
}

// Shutdown closes the member gracefully, as etcd does on SIGTERM (its gRPC
// servers let the requests in flight finish, then it stops), and keeps its
// data: a StopSource for source members run by this provisioner. A member
// it does not run is not an error.
func (p *Embedded) Shutdown(_ context.Context, name string) error {
	p.mu.Lock()
	e := p.members[name]
	delete(p.members, name)
	p.mu.Unlock()
	if e != nil {
		e.close()
	}
	return nil
}

// Progress returns the member's applied raft index and database size, read
// from the in-process server (ProgressReporter).
func (p *Embedded) Progress(_ context.Context, name string) (uint64, int64, error) {
	p.mu.Lock()
	m := p.members[name]
	p.mu.Unlock()
	if m == nil {
		return 0, 0, fmt.Errorf("%w: %q", ErrNotRunning, name)
	}
	return m.e.Server.AppliedIndex(), m.e.Server.Backend().Size(), nil
}

// MetricsURL returns the base URL where member name serves its own gRPC
// server metrics (grpc_server_started_total, grpc_server_handled_total for
// its calls alone; see memberMetrics), and whether this provisioner runs
// it (MetricsURLer).
func (p *Embedded) MetricsURL(name string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.members[name]
	if m == nil {
		return "", false
	}
	return m.metrics.url, true
}

// Running returns the names of the members this provisioner runs.
func (p *Embedded) Running() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n := range p.members {
		out = append(out, n)
	}
	return out
}

// Close stops every member without deleting data.
func (p *Embedded) Close() {
	p.mu.Lock()
	ms := p.members
	p.members = nil
	p.mu.Unlock()
	for _, m := range ms {
		m.close()
	}
}

// closeEmbedded closes e, giving up after 10 s (a member removed from its
// cluster may already have stopped its server).
func closeEmbedded(e *embed.Etcd) {
	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// StartCluster bootstraps a new cluster of len(names) members on free
// loopback ports (retrying with new ports on a bind conflict) and waits
// until every member is ready. It returns the members as Targets (name,
// peer URL, client URL). Used by the demo and tests to build a source
// cluster.
func (p *Embedded) StartCluster(ctx context.Context, token string, names []string) ([]Target, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		ts, err := p.startCluster(ctx, token, names)
		if err == nil {
			return ts, nil
		}
		lastErr = err
		for _, n := range names {
			_ = p.Stop(ctx, n)
		}
		if !isAddrInUse(err) {
			break
		}
	}
	return nil, lastErr
}

func (p *Embedded) startCluster(ctx context.Context, token string, names []string) ([]Target, error) {
	ts := make([]Target, len(names))
	var ic []string
	urls, err := FreeLoopbackURLs(2 * len(names))
	if err != nil {
		return nil, err
	}
	for i, n := range names {
		peer, client := urls[2*i], urls[2*i+1]
		if p.TLS != nil {
			client = "https" + strings.TrimPrefix(client, "http")
		}
		ts[i] = Target{Name: n, PeerURL: peer, ClientURL: client}
		ic = append(ic, n+"="+peer)
	}
	for _, t := range ts {
		spec := MemberSpec{Name: t.Name, PeerURL: t.PeerURL, ClientURL: t.ClientURL,
			InitialCluster: strings.Join(ic, ","), ClusterState: embed.ClusterStateFlagNew, ClusterToken: token}
		if err := p.Start(ctx, spec); err != nil {
			return nil, err
		}
	}
	for _, t := range ts {
		p.mu.Lock()
		e := p.members[t.Name].e
		p.mu.Unlock()
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			return nil, fmt.Errorf("member %q: %w", t.Name, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(60 * time.Second):
			return nil, fmt.Errorf("member %q not ready after 60s", t.Name)
		}
	}
	return ts, nil
}

func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}
