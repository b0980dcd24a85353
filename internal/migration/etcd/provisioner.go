package etcd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// MemberSpec is what a provisioner needs to start one member that joins an
// existing cluster (etcd docs: runtime-configuration, "Add a new member").
type MemberSpec struct {
	Name      string
	PeerURL   string
	ClientURL string
	// ListenPeerURL is --listen-peer-urls when it differs from PeerURL
	// (the advertised one); "" = PeerURL.
	ListenPeerURL string
	// InitialCluster is the --initial-cluster value: every current member
	// (including this one) as name=peerURL, comma-separated.
	InitialCluster string
	// ClusterState is "existing" for a joining member, "new" when the
	// provisioner bootstraps a fresh cluster (demo and tests).
	ClusterState string
	// ClusterToken is --initial-cluster-token (only used with "new").
	ClusterToken string
	// TLS, when set, serves clients over TLS with these files.
	TLS *MemberTLS
	// Flags are further etcd flags ("--KEY=VALUE", see ParseMemberFlags and
	// InheritFlags), appended after the generated ones.
	Flags []string
}

// MemberTLS names the PEM files a member serves with (etcd flags
// --cert-file, --key-file, --trusted-ca-file; with ClientCertAuth,
// --client-cert-auth). Peer traffic uses the same files when PeerURL is
// https.
type MemberTLS struct {
	CertFile, KeyFile, TrustedCAFile string
	ClientCertAuth                   bool
}

// Provisioner starts and stops target members somewhere. Start and Stop are
// idempotent: Start of a running member returns nil, Stop of an absent one
// returns nil. Stop also deletes the member's data.
type Provisioner interface {
	// Kind is "embedded", "process" or "exec".
	Kind() string
	// Version returns the etcd version the provisioned members run
	// ("3.6.5"), or "" when it cannot be known beforehand.
	Version(ctx context.Context) (string, error)
	Start(ctx context.Context, spec MemberSpec) error
	Stop(ctx context.Context, name string) error
}

// ProgressReporter is implemented by provisioners that can see a joining
// member's progress before it serves clients. etcd serves a member's client
// URL only once the member is "ready" — after it applied the raft log up to
// the entry that publishes its own name — so while a learner catches up its
// Status cannot be asked; the provisioner reads its applied index and
// database size from the side (embedded: the server object; process: the
// member's --listen-metrics-urls, which etcd serves at once).
type ProgressReporter interface {
	Progress(ctx context.Context, name string) (applied uint64, dbBytes int64, err error)
}

// MetricsURLer is implemented by provisioners whose members serve their
// own client traffic's metrics somewhere else than on their client URL
// (Embedded: members of one process share Prometheus' default registry
// there). MetricsURL returns that base URL ("…/metrics" is appended) and
// whether the provisioner runs the member.
type MetricsURLer interface {
	MetricsURL(name string) (string, bool)
}

// MetricsURLs returns a Config.MetricsURL that asks each of ps in order
// (e.g. the embedded sources' provisioner and the targets') and returns ""
// (the client URL) when none runs the member.
func MetricsURLs(ps ...MetricsURLer) func(Member) string {
	return func(m Member) string {
		for _, p := range ps {
			if u, ok := p.MetricsURL(m.Name); ok {
				return u
			}
		}
		return ""
	}
}

// InitialCluster renders --initial-cluster for members plus the joining
// target: named members as name=peerURL for every peer URL, the joining
// learner (unnamed until it starts) under target.Name. Unnamed members other
// than the target are an error (another learner is mid-join).
func InitialCluster(members []Member, target Target) (string, error) {
	var parts []string
	for _, m := range members {
		name := m.Name
		if m.HasPeerURL(target.PeerURL) {
			name = target.Name
		}
		if name == "" {
			return "", fmt.Errorf("member %x has no name yet: another learner is joining", m.ID)
		}
		for _, p := range m.PeerURLs {
			parts = append(parts, name+"="+p)
		}
	}
	return strings.Join(parts, ","), nil
}

// FreeLoopbackURL returns "http://127.0.0.1:PORT" with a port that was free
// a moment ago (see FreeLoopbackURLs). Callers that bind it later must be
// ready for a bind conflict.
func FreeLoopbackURL() (string, error) {
	us, err := FreeLoopbackURLs(1)
	if err != nil {
		return "", err
	}
	return us[0], nil
}

// FreeLoopbackURLs returns n distinct "http://127.0.0.1:PORT" URLs whose
// ports were free a moment ago. Ports are drawn below the kernel's
// ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), so outgoing
// connections cannot take them before they are bound; all n listeners are
// open at once, so no two are equal. Without that file it falls back to
// kernel-assigned ports.
func FreeLoopbackURLs(n int) ([]string, error) {
	return freeURLs("127.0.0.1", n)
}

// ephemeralLow returns the first port of the ephemeral range (0 if unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return low
}

func freeURLs(ip string, n int) ([]string, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	out := make([]string, 0, n)
	low := ephemeralLow()
	for range n {
		var l net.Listener
		var err error
		// Below the ephemeral range: a few random tries, then the kernel.
		for try := 0; low > 11000 && try < 50; try++ {
			port := 10000 + rand.IntN(low-10000) //nolint:gosec // G404: a port choice, not a secret
			if l, err = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port))); err == nil {
				break
			}
		}
		if l == nil {
			if l, err = net.Listen("tcp", net.JoinHostPort(ip, "0")); err != nil {
				return nil, err
			}
		}
		ls = append(ls, l)
		out = append(out, "http://"+l.Addr().String())
	}
	return out, nil
}

func parseURLs(s string) ([]url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	return []url.URL{*u}, nil
}
