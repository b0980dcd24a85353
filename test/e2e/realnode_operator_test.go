package e2e

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/handover-dev/handover/internal/cli/kubeflags"
	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/realnode"
)

// TestRealNodeOperatorHelmE2E installs the operator with the Helm chart
// (deploy/helm/handover) from the image `make image` builds
// (ghcr.io/handover-dev/handover:0.1.0, imported into the real node's
// containerd, pullPolicy Never) and runs the managed real-pod rotation
// against that in-cluster controller: no controller runs in the test.
//
// The sandbox has no kube-proxy and its API server listens on 127.0.0.1
// only, so the chart is installed with hostNetwork=true and extraEnv
// KUBERNETES_SERVICE_HOST/PORT pointing at that address (on a real cluster
// none of this applies).
// Its metrics and health endpoints are moved to free ports on 127.0.0.1 and
// the node address, since the host network is shared.
func TestRealNodeOperatorHelmE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: starts a full cluster with a real kubelet node (root) and installs the chart")
	}
	testenv.RequireRealNode(t)
	helm := testenv.RequireHelm(t)
	cl := testenv.StartCluster(t, testenv.ClusterOptions{RealNode: true})
	cs, err := kubernetes.NewForConfig(cl.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	ports := freeLoopbackPorts(t, 2)
	u, err := url.Parse(cl.State.APIServerURL)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "handover-system"
	args := []string{"install", "handover", filepath.Join("..", "..", "deploy", "helm", "handover"),
		"--kubeconfig", cl.Kubeconfig, "--namespace", ns, "--create-namespace",
		"--set", "image.pullPolicy=Never",
		"--set", "replicaCount=1",
		"--set-string", `nodeSelector.handover\.dev/real-node=true`,
		"--set", "controller.pollInterval=1s",
		"--set", fmt.Sprintf("metrics.port=%d", ports[0]),
		"--set", fmt.Sprintf("healthProbe.port=%d", ports[1]),
		"--set", fmt.Sprintf("controller.extraArgs={--metrics-bind-address=127.0.0.1:%d,--health-probe-bind-address=%s:%d}", ports[0], realnodeIP, ports[1]),
		// The sandbox network, as docs/real-node.md says to install it.
		"--set", "hostNetwork=true",
		"--set", "extraEnv[0].name=KUBERNETES_SERVICE_HOST", "--set-string", "extraEnv[0].value=" + u.Hostname(),
		"--set", "extraEnv[1].name=KUBERNETES_SERVICE_PORT", "--set-string", "extraEnv[1].value=" + u.Port(),
	}
	start := time.Now()
	if out, err := exec.CommandContext(t.Context(), helm, args...).CombinedOutput(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	poll(t.Context(), t, "the in-cluster controller Deployment to be available", func() (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "handover-controller", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return deploymentDone(d), fmt.Errorf("updated %d ready %d available %d of 1", d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas)
	})
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			t.Logf("controller pod %s on %s, image %s (%s), Ready %s after helm install (measured, not asserted)",
				p.Name, p.Spec.NodeName, p.Spec.Containers[0].Image, p.Status.ContainerStatuses[0].ImageID, time.Since(start).Round(100*time.Millisecond))
			if p.Spec.NodeName != realnode.NodeName {
				t.Errorf("controller pod %s runs on %s, want the real node %s", p.Name, p.Spec.NodeName, realnode.NodeName)
			}
		}
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range pods.Items {
			raw, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, nil).DoRaw(context.Background())
			t.Logf("---- log of controller pod %s (err %v) ----\n%s", p.Name, err, lastN(string(raw), 40))
		}
	})
	c, err := kubeflags.Client(cl.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	managedRealRotation(t, cl.RESTConfig, c, "helm-rotation")
}

// realnodeIP is the real node's InternalIP (hack/realnode.sh).
const realnodeIP = "198.18.0.1"

func deploymentDone(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
		d.Status.AvailableReplicas == want && d.Status.Replicas == want
}

// freeLoopbackPorts returns n ports free on 127.0.0.1 now.
func freeLoopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return out
}

func lastN(s string, n int) string {
	lines := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			lines++
			if lines > n {
				return s[i+1:]
			}
		}
	}
	return s
}
