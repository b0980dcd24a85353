package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/internal/cli/kubeflags"
)

// TestSecureMetrics runs `handover controller --metrics-secure` (what the
// manifests and the chart run) against a real apiserver: /metrics answers
// only over HTTPS, 401 without a token, 403 to a ServiceAccount without
// the metrics-reader rule, 200 to one bound to it.
func TestSecureMetrics(t *testing.T) {
	cfg, c := apiServerWithCRD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The ClusterRole deploy/ ships as handover-metrics-reader.
	if err := c.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "handover-metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}); err != nil {
		t.Fatal(err)
	}
	token := func(name string, reader bool) string {
		t.Helper()
		if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}); err != nil {
			t.Fatal(err)
		}
		if reader {
			if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "handover-metrics-reader"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "default", Name: name}}}); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	prometheus, stranger := token("prometheus", true), token("stranger", false)

	addr := freeAddr(t)
	o := &Options{Kube: kubeflags.Flags{Kubeconfig: writeKubeconfig(t, cfg)}, MetricsAddr: addr, MetricsSecure: true,
		ProbeAddr: "0", GracefulShutdown: 10 * time.Second, skipNameValidation: true}
	o.Zap.DestWriter = io.Discard
	startRun(ctx, t, o)

	// The certificate is self-signed (made in memory, nothing written to a
	// read-only root filesystem); the scraper's TLS config skips its check
	// as kubebuilder's ServiceMonitor does without cert-manager.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(scheme, bearer string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/metrics", nil)
		if err != nil {
			return 0, "", err
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if err := eventually(ctx, func() error {
		code, body, err := get("https", prometheus)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("GET /metrics as prometheus: %d %w", code, err)
		}
		if !strings.Contains(body, "handover_access_reviews_total") {
			return fmt.Errorf("/metrics lacks handover_access_reviews_total")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, bearer string
		want         []int
	}{
		{"no token", "", []int{http.StatusUnauthorized}},
		// The TokenReview answers with an error for a malformed token, which
		// controller-runtime's filter turns into 500 "Authentication failed".
		{"a token the apiserver does not know", "not-a-token", []int{http.StatusUnauthorized, http.StatusInternalServerError}},
		{"a ServiceAccount without the metrics-reader rule", stranger, []int{http.StatusForbidden}},
	} {
		code, body, err := get("https", tc.bearer)
		if err != nil || !slices.Contains(tc.want, code) {
			t.Errorf("%s: %d %v, want one of %v", tc.name, code, err, tc.want)
		}
		if strings.Contains(body, "handover_") {
			t.Errorf("%s: metrics served", tc.name)
		}
	}
	if code, _, err := get("http", prometheus); err == nil && code == http.StatusOK {
		t.Error("plain HTTP served /metrics with --metrics-secure")
	}
}
