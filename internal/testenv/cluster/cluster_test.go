package cluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/cluster"
)

// A two-node cluster comes up with every component, etcd answers mutual TLS
// with the generated client certificate, a second Start on the same Dir is
// refused, and Stop leaves no process running.
func TestStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: starts a full cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Nodes: 2})
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 2 {
		t.Errorf("%d kwok nodes, want 2", len(nodes.Items))
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil || v.GitVersion != cluster.KubernetesVersion {
		t.Errorf("server version %v (err %v), want %s", v, err, cluster.KubernetesVersion)
	}

	pair, err := tls.LoadX509KeyPair(c.Files.EtcdClient.Cert, c.Files.EtcdClient.Key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(c.Files.EtcdCA.Cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{c.State.EtcdURL}, TLS: tlsCfg, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	resp, err := etcd.Get(ctx, "/registry/namespaces/default")
	if err != nil || resp.Count != 1 {
		t.Errorf("etcd get default namespace: count %v err %v", resp, err)
	}

	_, err = cluster.Start(ctx, cluster.Options{BinDir: testenv.BinDir(), Dir: c.Dir})
	if !errors.Is(err, cluster.ErrBadOptions) {
		t.Errorf("second Start on a running Dir = %v, want ErrBadOptions", err)
	}

	stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, p := range c.State.Processes {
		if cluster.Running(p) {
			t.Errorf("%s (pid %d) running after Stop", p.Name, p.PID)
		}
	}
	if _, err := cluster.StopDir(stopCtx, clock.RealClock{}, c.Dir); err != nil {
		t.Errorf("StopDir after Stop: %v", err)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts cluster.Options
		want error
	}{
		{"no bin dir", cluster.Options{Dir: t.TempDir()}, cluster.ErrBadOptions},
		{"no dir", cluster.Options{BinDir: t.TempDir()}, cluster.ErrBadOptions},
		{"negative nodes", cluster.Options{BinDir: t.TempDir(), Dir: t.TempDir(), Nodes: -1}, cluster.ErrBadOptions},
		{"empty bin dir", cluster.Options{BinDir: t.TempDir(), Dir: t.TempDir()}, cluster.ErrBinariesMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := cluster.Start(context.Background(), tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Start = %v, want %v", err, tt.want)
			}
		})
	}
}
