package kubeprobe

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/probe"
)

// Dialer dials "name:port" (endpointdns.Resolver.DialContext).
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// Config configures a Prober.
type Config struct {
	// Host is the endpoint name and Port its port: requests go to
	// https://Host:Port and the serving certificate must carry Host.
	Host string
	Port int
	// CAFile verifies the apiservers; CertFile/KeyFile is the client
	// identity (it must be allowed to create namespaces and ConfigMaps).
	CAFile, CertFile, KeyFile string
	// Dial resolves and dials; required (it is the point of the probe).
	Dial Dialer
	// Namespace the probe writes in ("" = "handover-probe-<random>"); it is
	// created by New. Nothing else may write ConfigMaps there.
	Namespace string
	Clock     clock.PassiveClock // nil = real clock
}

// Ack is one acknowledged create.
type Ack struct {
	Name            string
	ResourceVersion int64
	At              time.Time
}

// Prober owns the long-lived clientset and the ledger of acknowledged
// writes and watched objects. Safe for concurrent use.
type Prober struct {
	cfg  Config
	url  string
	tls  *tls.Config
	long *kubernetes.Clientset
	clk  clock.PassiveClock
	seq  atomic.Uint64

	mu       sync.Mutex
	acks     []Ack
	seen     map[string]bool
	lastRV   int64
	resumes  int
	relists  int
	regress  int
	watchErr string
}

// New validates cfg, builds the long-lived client and creates the
// namespace (retrying until ctx ends).
func New(ctx context.Context, cfg Config) (*Prober, error) {
	switch {
	case cfg.Host == "":
		return nil, fmt.Errorf("%w: Config.Host is empty", ErrInvalidConfig)
	case cfg.Port <= 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("%w: Config.Port %d out of range", ErrInvalidConfig, cfg.Port)
	case cfg.Dial == nil:
		return nil, fmt.Errorf("%w: Config.Dial is nil", ErrInvalidConfig)
	case cfg.CAFile == "" || cfg.CertFile == "" || cfg.KeyFile == "":
		return nil, fmt.Errorf("%w: Config.CAFile, CertFile and KeyFile are required", ErrInvalidConfig)
	}
	if cfg.Namespace == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.Namespace = "handover-probe-" + hex.EncodeToString(b[:])
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	rc := RESTConfig(cfg)
	long, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube probe: client: %w", err)
	}
	tc, err := rest.TLSConfigFor(rc)
	if err != nil {
		return nil, fmt.Errorf("kube probe: tls: %w", err)
	}
	p := &Prober{cfg: cfg, long: long, tls: tc, clk: clk, seen: map[string]bool{},
		url: "https://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = long.CoreV1().Namespaces().Create(cctx, ns, metav1.CreateOptions{})
		cancel()
		if err == nil || apierrors.IsAlreadyExists(err) {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kube probe: create namespace %s: %w", cfg.Namespace, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RESTConfig is the client-go configuration the long-lived client uses:
// https://Host:Port through cfg.Dial, client-side rate limits off.
func RESTConfig(cfg Config) *rest.Config {
	return &rest.Config{
		Host: "https://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile,
		},
		Dial: cfg.Dial,
		QPS:  -1, // no client-side throttling: the probe runner sets the rate
	}
}

// Namespace returns the namespace the probe writes in.
func (p *Prober) Namespace() string { return p.cfg.Namespace }

// Client returns the long-lived clientset.
func (p *Prober) Client() *kubernetes.Clientset { return p.long }

// Fresh returns the fresh-connection probe ("kube-fresh").
func (p *Prober) Fresh() probe.Probe { return probe.Func{N: "kube-fresh", F: p.fresh} }

// Long returns the long-lived-client probe ("kube-long").
func (p *Prober) Long() probe.Probe { return probe.Func{N: "kube-long", F: p.longList} }

// Writer returns the write probe ("kube-create").
func (p *Prober) Writer() probe.Probe { return probe.Func{N: "kube-create", F: p.create} }

func (p *Prober) listPath() string {
	return p.url + "/api/v1/namespaces/" + p.cfg.Namespace + "/configmaps?limit=1"
}

// fresh makes one LIST over a new connection (keep-alives off), retrying a
// 429 after its Retry-After as client-go does.
func (p *Prober) fresh(ctx context.Context) error {
	tr := &http.Transport{DialContext: p.cfg.Dial, TLSClientConfig: p.tls.Clone(),
		DisableKeepAlives: true, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.listPath(), nil)
		if err != nil {
			return err
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || ra <= 0 {
			return &probe.StatusError{Status: resp.Status}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: 429, retry after %ds: %w", ErrStatus, ra, ctx.Err())
		case <-time.After(time.Duration(ra) * time.Second):
		}
	}
}

func (p *Prober) longList(ctx context.Context) error {
	_, err := p.long.CoreV1().ConfigMaps(p.cfg.Namespace).List(ctx, metav1.ListOptions{Limit: 1})
	return err
}

func (p *Prober) create(ctx context.Context) error {
	name := fmt.Sprintf("w-%07d", p.seq.Add(1))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": name}}
	got, err := p.long.CoreV1().ConfigMaps(p.cfg.Namespace).Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// An earlier attempt of this name cannot exist (names are unique
		// per attempt); only a retried request that succeeded server-side
		// gets here. Read it back to learn its revision.
		got, err = p.long.CoreV1().ConfigMaps(p.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	rv, _ := strconv.ParseInt(got.ResourceVersion, 10, 64)
	p.mu.Lock()
	p.acks = append(p.acks, Ack{Name: name, ResourceVersion: rv, At: p.clk.Now()})
	p.mu.Unlock()
	return nil
}
