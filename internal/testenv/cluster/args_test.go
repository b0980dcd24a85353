package cluster

import (
	"net/url"
	"strings"
	"testing"

	"github.com/handover-dev/handover/internal/testenv/pki"
)

// Every address a component listens on or advertises is 127.0.0.1, and the
// apiserver carries the flag loopback serving needs.
func TestComponentsListenOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	l := layout{BinDir: "/bin", Dir: "/d", Files: pki.Files{}, Ports: ports{1, 2, 3, 4, 5, 6}}
	addressFlags := []string{"bind-address", "advertise-address", "listen-client-urls", "advertise-client-urls",
		"listen-peer-urls", "initial-advertise-peer-urls", "server-address", "etcd-servers"}
	seen := map[string]bool{}
	for _, c := range l.components() {
		for _, a := range c.args {
			name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !contains(addressFlags, name) {
				continue
			}
			seen[name] = true
			host := value
			if u, err := url.Parse(value); err == nil && u.Host != "" {
				host = u.Hostname()
			} else if h, _, ok := strings.Cut(value, ":"); ok {
				host = h
			}
			if host != Loopback {
				t.Errorf("%s --%s=%s: host %q is not %s", c.name, name, value, host, Loopback)
			}
		}
		if c.health != "" && !strings.HasPrefix(c.health, "https://"+Loopback+":") {
			t.Errorf("%s health URL %s is not https on loopback", c.name, c.health)
		}
	}
	for _, f := range addressFlags {
		if !seen[f] {
			t.Errorf("no component sets --%s", f)
		}
	}
	if !contains(l.apiserverArgs(), "--endpoint-reconciler-type=none") {
		t.Error("kube-apiserver lacks --endpoint-reconciler-type=none")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
