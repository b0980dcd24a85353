package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/testenv/pki"
)

// readyPoll is how often readiness checks repeat.
const readyPoll = 100 * time.Millisecond

// poll calls cond every readyPoll until it returns true, returns an error, p
// stops Running (error wrapping ErrProcessExited with p's last log lines), or
// ctx ends. last is the most recent reason cond gave for "not yet".
func poll(ctx context.Context, clk clock.Clock, p *Process, what string, cond func(ctx context.Context) (ok bool, notYet string, err error)) error {
	var last string
	for {
		ok, reason, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = reason
		if p != nil && !Running(*p) {
			return fmt.Errorf("%w: %s (pid %d) before %s; last log lines of %s:\n%s",
				ErrProcessExited, p.Name, p.PID, what, p.Log, tail(p.Log, 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last: %s)", what, ctx.Err(), last)
		case <-clk.After(readyPoll):
		}
	}
}

// httpsClient trusts caFile and presents client (if non-empty).
func httpsClient(caFile string, client pki.Pair) (*http.Client, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA for health checks: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if client.Cert != "" {
		pair, err := tls.LoadX509KeyPair(client.Cert, client.Key)
		if err != nil {
			return nil, fmt.Errorf("load health-check client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true},
	}, nil
}

// httpOK is a poll condition: GET url answers 200 with a body containing want.
func httpOK(c *http.Client, url, want string) func(ctx context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, "", fmt.Errorf("health check %s: %w", url, err)
		}
		resp, err := c.Do(req)
		if err != nil {
			return false, err.Error(), nil
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			return false, fmt.Sprintf("%s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body))), nil
		}
		return true, "", nil
	}
}

// apiserverReady is a poll condition: GET /readyz answers "ok".
func apiserverReady(cs kubernetes.Interface) func(ctx context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		return strings.TrimSpace(string(body)) == "ok", string(body), nil
	}
}

// nodeLabels returns the labels of the kwok node name that Start creates;
// select on "type=kwok" to place pods on fake nodes (testenv.KwokDeployment
// does).
func nodeLabels(name string) map[string]string {
	return map[string]string{
		"type":                   "kwok",
		"kubernetes.io/hostname": name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"kubernetes.io/role":     "agent",
	}
}

// createNode creates a node kwok manages (kwok selects kwok.x-k8s.io/node=fake);
// an existing node of that name is left as it is.
func createNode(ctx context.Context, cs kubernetes.Interface, name string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      nodeLabels(name),
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
	}}
	_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	return nil
}

// nodeSchedulable is a poll condition: the node is Ready and carries no
// NoSchedule/NoExecute taint (the not-ready taint is gone).
func nodeSchedulable(cs kubernetes.Interface, name string) func(ctx context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return false, "node " + name + " not Ready", nil
		}
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
				return false, "node " + name + " tainted " + t.Key, nil
			}
		}
		return true, "", nil
	}
}

// defaultServiceAccount is a poll condition: default/default exists, so pods
// can be created (the ServiceAccount admission plugin needs it).
func defaultServiceAccount(cs kubernetes.Interface) func(ctx context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	}
}
