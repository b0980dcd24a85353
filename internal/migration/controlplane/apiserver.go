package controlplane

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// APIServerSpec is what a provisioner needs to run one kube-apiserver.
type APIServerSpec struct {
	Name string     // "source", "target"
	Addr netip.Addr // --bind-address and --advertise-address
	Port int        // --secure-port (the same on both sites: the name carries no port)
	// EtcdServers is --etcd-servers (client URLs).
	EtcdServers []string
	// Serving certificate and key (must carry the endpoint name), the CA of
	// client certificates, the service-account key pair (shared by both
	// apiservers so tokens stay valid across the move).
	CertFile, KeyFile, ClientCAFile              string
	ServiceAccountKeyFile, ServiceAccountPubFile string
	// Graceful shutdown (k8s.io/apiserver server_run_options.go):
	// ShutdownDelay keeps serving (with /readyz failing) after SIGTERM;
	// SendRetryAfter answers new requests with 429 + Retry-After +
	// Connection: close while in-flight ones drain; WatchGrace bounds the
	// wait for open watches; GoawayChance sends HTTP/2 GOAWAY on that
	// fraction of requests (≤ 0.02) so long-lived clients re-dial.
	ShutdownDelay  time.Duration
	SendRetryAfter bool
	WatchGrace     time.Duration
	GoawayChance   float64
}

// URL is https://Addr:Port.
func (s APIServerSpec) URL() string {
	return "https://" + netip.AddrPortFrom(s.Addr, uint16(s.Port)).String() //nolint:gosec // G115: validated port
}

// Validate names the first bad field.
func (s APIServerSpec) Validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("%w: apiserver spec: name is empty", ErrInvalidConfig)
	case !s.Addr.IsValid():
		return fmt.Errorf("%w: apiserver %q: addr is not set", ErrInvalidConfig, s.Name)
	case s.Port <= 0 || s.Port > 65535:
		return fmt.Errorf("%w: apiserver %q: port %d out of range", ErrInvalidConfig, s.Name, s.Port)
	case len(s.EtcdServers) == 0:
		return fmt.Errorf("%w: apiserver %q: etcdServers is empty", ErrInvalidConfig, s.Name)
	case s.CertFile == "" || s.KeyFile == "" || s.ClientCAFile == "" || s.ServiceAccountKeyFile == "" || s.ServiceAccountPubFile == "":
		return fmt.Errorf("%w: apiserver %q: certFile, keyFile, clientCAFile and the service-account key files are required", ErrInvalidConfig, s.Name)
	case s.GoawayChance < 0 || s.GoawayChance > 0.02:
		return fmt.Errorf("%w: apiserver %q: goawayChance %g: want 0..0.02 (kube-apiserver's limit)", ErrInvalidConfig, s.Name, s.GoawayChance)
	case s.ShutdownDelay < 0 || s.WatchGrace < 0:
		return fmt.Errorf("%w: apiserver %q: negative shutdown duration", ErrInvalidConfig, s.Name)
	}
	return nil
}

// StopGrace is how long a stop may take before SIGKILL: the shutdown delay,
// the watch grace and 60 s for in-flight requests.
func (s APIServerSpec) StopGrace() time.Duration {
	return s.ShutdownDelay + s.WatchGrace + time.Minute
}

// Flags renders the kube-apiserver command line for s; certDir is
// --cert-dir (it also identifies the process). Pure.
func (s APIServerSpec) Flags(certDir string) []string {
	join := ""
	for i, e := range s.EtcdServers {
		if i > 0 {
			join += ","
		}
		join += e
	}
	f := []string{
		"--bind-address=" + s.Addr.String(),
		"--advertise-address=" + s.Addr.String(),
		"--secure-port=" + strconv.Itoa(s.Port),
		"--cert-dir=" + certDir,
		// The lease reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--etcd-servers=" + join,
		"--tls-cert-file=" + s.CertFile,
		"--tls-private-key-file=" + s.KeyFile,
		"--client-ca-file=" + s.ClientCAFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + s.ServiceAccountPubFile,
		"--service-account-signing-key-file=" + s.ServiceAccountKeyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--profiling=false",
	}
	if s.ShutdownDelay > 0 {
		f = append(f, "--shutdown-delay-duration="+s.ShutdownDelay.String())
	}
	if s.SendRetryAfter {
		f = append(f, "--shutdown-send-retry-after=true")
	}
	if s.WatchGrace > 0 {
		f = append(f, "--shutdown-watch-termination-grace-period="+s.WatchGrace.String())
	}
	if s.GoawayChance > 0 {
		f = append(f, "--goaway-chance="+strconv.FormatFloat(s.GoawayChance, 'g', -1, 64))
	}
	return f
}

// Provisioner starts and stops kube-apiservers somewhere. Start of a running
// apiserver and Stop of an absent one return nil. Stop is graceful: it
// returns once the process exited (kube-apiserver exits after its shutdown
// delay and after its in-flight requests drained).
type Provisioner interface {
	Kind() string // "process" or "exec"
	// Version is the kube-apiserver version ("1.35.4"), "" when unknown.
	Version(ctx context.Context) (string, error)
	Start(ctx context.Context, spec APIServerSpec) error
	Stop(ctx context.Context, spec APIServerSpec) error
}
