package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Endpoint is the stable name clients use and the admin identity handover
// checks apiservers with.
type Endpoint struct {
	Name string // e.g. "api.handover.test"
	Port int
	// CAFile verifies the apiservers' serving certificates; CertFile and
	// KeyFile are a client identity allowed to LIST every resource.
	CAFile, CertFile, KeyFile string
}

// Validate names the first bad field.
func (e Endpoint) Validate() error {
	switch {
	case e.Name == "":
		return fmt.Errorf("%w: endpoint: name is empty", ErrInvalidConfig)
	case e.Port <= 0 || e.Port > 65535:
		return fmt.Errorf("%w: endpoint %q: port %d out of range", ErrInvalidConfig, e.Name, e.Port)
	case e.CAFile == "" || e.CertFile == "" || e.KeyFile == "":
		return fmt.Errorf("%w: endpoint %q: caFile, certFile and keyFile are required", ErrInvalidConfig, e.Name)
	}
	return nil
}

// At returns a client configuration that talks to the apiserver at addr
// while verifying its certificate for the endpoint name (the name is the
// TLS server name; the dial goes to addr).
func (e Endpoint) At(addr netip.Addr) *rest.Config {
	target := netip.AddrPortFrom(addr, uint16(e.Port)).String() //nolint:gosec // G115: validated port
	var d net.Dialer
	return &rest.Config{
		Host: "https://" + net.JoinHostPort(e.Name, strconv.Itoa(e.Port)),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile, ServerName: e.Name,
		},
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, target)
		},
		Timeout:        10 * time.Second,
		QPS:            -1,
		WarningHandler: rest.NoWarnings{},
	}
}

// Ready GETs /readyz at addr; nil on 200, else an error wrapping ErrNotReady
// (with the failing checks) or the transport error.
func (e Endpoint) Ready(ctx context.Context, addr netip.Addr) error {
	rc := e.At(addr)
	tr, err := rest.TransportFor(rc)
	if err != nil {
		return err
	}
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.Host+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s /readyz %d: %s", ErrNotReady, addr, resp.StatusCode, failedChecks(string(body)))
	}
	return nil
}

// failedChecks keeps the "[-]…" lines of a /readyz body.
func failedChecks(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "[-]") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	if len(out) == 0 {
		return strings.TrimSpace(body)
	}
	return strings.Join(out, "; ")
}

// ListAll LISTs (limit 1) every served resource that supports list, at
// addr: what a starting controller or a kubelet does first, and what
// failed at ≥ 200 ms between sites (GEP-0039). It returns the number of
// resources listed.
func (e Endpoint) ListAll(ctx context.Context, addr netip.Addr) (int, error) {
	rc := e.At(addr)
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return 0, err
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		return 0, fmt.Errorf("discovery at %s: %w", addr, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return n, err
		}
		for _, r := range l.APIResources {
			if !hasVerb(r.Verbs, "list") || strings.Contains(r.Name, "/") {
				continue
			}
			if _, err := dyn.Resource(gv.WithResource(r.Name)).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
				return n, fmt.Errorf("list %s at %s: %w", gv.WithResource(r.Name), addr, err)
			}
			n++
		}
	}
	return n, nil
}

func hasVerb(vs metav1.Verbs, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// Version returns the apiserver's gitVersion without the "v" ("1.35.4").
func (e Endpoint) Version(addr netip.Addr) (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(e.At(addr))
	if err != nil {
		return "", err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("version at %s: %w", addr, err)
	}
	return strings.TrimPrefix(v.GitVersion, "v"), nil
}

// ServesName handshakes with the apiserver at addr and verifies its
// serving certificate for the endpoint name against CAFile.
func (e Endpoint) ServesName(ctx context.Context, addr netip.Addr) error {
	tc, err := rest.TLSConfigFor(e.At(addr))
	if err != nil {
		return err
	}
	d := tls.Dialer{Config: tc}
	c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, uint16(e.Port)).String()) //nolint:gosec // G115: validated port
	if err != nil {
		return fmt.Errorf("serving certificate at %s for %q: %w", addr, e.Name, err)
	}
	return c.Close()
}
