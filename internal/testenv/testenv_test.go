package testenv_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/cluster"
)

// envtest runs the apiserver we built: it reports the pinned version (the
// ldflags took) and stores and returns objects.
func TestStartAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: starts etcd and kube-apiserver")
	}
	cfg := testenv.StartAPIServer(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if v.GitVersion != cluster.KubernetesVersion {
		t.Errorf("apiserver reports %s, want %s", v.GitVersion, cluster.KubernetesVersion)
	}
	ctx := t.Context()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "probe", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Errorf("read back %v, want k=v", got.Data)
	}
}
