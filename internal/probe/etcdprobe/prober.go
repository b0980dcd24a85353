package etcdprobe

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/probe"
)

// Config configures a Prober.
type Config struct {
	Endpoints []string    // client URLs; required
	TLS       *tls.Config // nil = plain http
	// Prefix namespaces the probe's keys ("" = "handover-probe/<random>/").
	// Nothing else may write under it.
	Prefix string
	// ValueSize is the size of each written value in bytes (0 = 64).
	ValueSize int
	Clock     clock.PassiveClock // nil = real clock
}

// Ack is one acknowledged write.
type Ack struct {
	Key      string
	Revision int64     // the Put response header's revision
	At       time.Time // when the acknowledgement arrived
}

// Prober owns one etcd client and the ledger of acknowledged writes and
// watched revisions. It is safe for concurrent use.
type Prober struct {
	cli    *clientv3.Client
	prefix string
	value  string
	clk    clock.PassiveClock
	start  int64 // revision before the first write

	// paused, when set, is a channel closed by Resume; attempts wait on
	// it before sending (Pause).
	paused atomic.Pointer[chan struct{}]

	seq         atomic.Uint64
	lastKey     atomic.Pointer[Ack]
	dropRetries atomic.Int64

	mu         sync.Mutex
	acks       []Ack
	watched    map[int64]bool
	watchMax   int64
	lostWatch  int // watch responses that reported compaction or cancellation
	resumes    int
	staleReads int
}

// New dials cfg.Endpoints and reads the start revision. The client's
// endpoints change only through SetEndpoints (no auto-sync).
func New(ctx context.Context, cfg Config) (*Prober, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: Config.Endpoints is empty", ErrInvalidConfig)
	}
	prefix := cfg.Prefix
	if prefix == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		prefix = "handover-probe/" + hex.EncodeToString(b[:]) + "/"
	}
	size := cfg.ValueSize
	if size <= 0 {
		size = 64
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, TLS: cfg.TLS,
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd probe: dial %v: %w", cfg.Endpoints, err)
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Get(gctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("etcd probe: read start revision: %w", err)
	}
	val := make([]byte, size)
	for i := range val {
		val[i] = 'v'
	}
	return &Prober{cli: cli, prefix: prefix, value: string(val), clk: clk,
		start: resp.Header.Revision, watched: map[int64]bool{}}, nil
}

// Prefix returns the key prefix the probe writes under.
func (p *Prober) Prefix() string { return p.prefix }

// SetEndpoints replaces the client's endpoints (see the package doc).
func (p *Prober) SetEndpoints(eps []string) {
	if len(eps) > 0 {
		p.cli.SetEndpoints(eps...)
	}
}

// Pause makes the writer and the reader hold every new attempt (they wait,
// within their deadline, until Resume) so none reaches the cluster; the
// requests already sent complete. Pausing twice is one pause.
func (p *Prober) Pause() {
	ch := make(chan struct{})
	p.paused.CompareAndSwap(nil, &ch)
}

// Resume lets the attempts held by Pause go.
func (p *Prober) Resume() {
	if ch := p.paused.Swap(nil); ch != nil {
		close(*ch)
	}
}

// wait blocks while paused, until Resume or ctx ends.
func (p *Prober) wait(ctx context.Context) error {
	ch := p.paused.Load()
	if ch == nil {
		return nil
	}
	select {
	case <-*ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the client.
func (p *Prober) Close() error { return p.cli.Close() }

// Writer returns the write probe ("etcd-put"): each attempt Puts a new
// unique key and records it when acknowledged.
func (p *Prober) Writer() probe.Probe { return probe.Func{N: "etcd-put", F: p.put} }

// Reader returns the read probe ("etcd-get"): a linearizable Get of the
// latest acknowledged key, which must be found (else ErrStaleRead).
func (p *Prober) Reader() probe.Probe { return probe.Func{N: "etcd-get", F: p.get} }

// IsProposalDropped reports whether err is raft's ErrProposalDropped as
// etcd returns it ("raft proposal dropped", gRPC code Unknown): the leader
// (or a candidate) refused the proposal, so the write provably did not
// happen and may be sent again.
func IsProposalDropped(err error) bool {
	return err != nil && strings.Contains(err.Error(), "raft proposal dropped")
}

func (p *Prober) put(ctx context.Context) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	key := fmt.Sprintf("%s%012d", p.prefix, p.seq.Add(1))
	resp, err := p.cli.Put(ctx, key, p.value)
	// A dropped proposal (leadership transfer in progress) is retried
	// within the attempt's deadline; the retries are counted and reported.
	for IsProposalDropped(err) {
		p.dropRetries.Add(1)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Millisecond):
		}
		resp, err = p.cli.Put(ctx, key, p.value)
	}
	if err != nil {
		return err
	}
	a := Ack{Key: key, Revision: resp.Header.Revision, At: p.clk.Now()}
	p.mu.Lock()
	p.acks = append(p.acks, a)
	p.mu.Unlock()
	for {
		old := p.lastKey.Load()
		if old != nil && old.Revision >= a.Revision {
			break
		}
		if p.lastKey.CompareAndSwap(old, &a) {
			break
		}
	}
	return nil
}

func (p *Prober) get(ctx context.Context) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	a := p.lastKey.Load()
	key := p.prefix + "none"
	if a != nil {
		key = a.Key
	}
	resp, err := p.cli.Get(ctx, key)
	if err != nil {
		return err
	}
	if a != nil && len(resp.Kvs) == 0 {
		p.mu.Lock()
		p.staleReads++
		p.mu.Unlock()
		return fmt.Errorf("%w: %s (revision %d)", ErrStaleRead, a.Key, a.Revision)
	}
	return nil
}

// Watch watches the prefix from the start revision until ctx ends,
// recording every PUT's revision. When the watch channel closes while ctx
// is live it resumes from the last seen revision + 1; a response that
// reports compaction or cancellation counts as lost (a gap).
func (p *Prober) Watch(ctx context.Context) {
	next := p.start + 1
	for ctx.Err() == nil {
		wctx := clientv3.WithRequireLeader(ctx)
		for resp := range p.cli.Watch(wctx, p.prefix, clientv3.WithPrefix(), clientv3.WithRev(next)) {
			if resp.CompactRevision != 0 {
				p.mu.Lock()
				p.lostWatch++
				p.mu.Unlock()
				next = resp.CompactRevision
			}
			p.mu.Lock()
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					p.watched[ev.Kv.ModRevision] = true
					p.watchMax = max(p.watchMax, ev.Kv.ModRevision)
				}
			}
			p.mu.Unlock()
			if n := len(resp.Events); n > 0 {
				next = resp.Events[n-1].Kv.ModRevision + 1
			}
		}
		p.mu.Lock()
		p.resumes++
		p.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}
