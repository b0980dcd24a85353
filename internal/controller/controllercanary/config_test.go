package controllercanary

import (
	"testing"

	"k8s.io/client-go/rest"
)

// TestRelabelConfigLiftsTheDefaultRateLimit: a kubeconfig without QPS gives
// client-go's 5 requests/s; the canary's relabelling client lifts it (the
// apiserver's priority and fairness bounds it) but keeps an explicit one.
func TestRelabelConfigLiftsTheDefaultRateLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want float32
	}{{0, -1}, {50, 50}, {-1, -1}} {
		got := relabelConfig(&rest.Config{QPS: c.in}).QPS
		if got != c.want {
			t.Errorf("relabelConfig(QPS %v).QPS = %v, want %v", c.in, got, c.want)
		}
	}
	orig := &rest.Config{}
	relabelConfig(orig)
	if orig.QPS != 0 {
		t.Error("relabelConfig changed its input")
	}
}
