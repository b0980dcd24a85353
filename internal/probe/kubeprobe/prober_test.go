package kubeprobe_test

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/internal/migration/controlplane/localcp"
	"github.com/handover-dev/handover/internal/probe/kubeprobe"
	"github.com/handover-dev/handover/internal/testenv"
)

// Against a real kube-apiserver reached through the DNS server: every probe
// kind succeeds, the watch delivers every acknowledged create, and an
// acknowledged ConfigMap deleted behind the probe's back is reported
// missing.
func TestProberOnRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a kube-apiserver and three etcd members")
	}
	bin := testenv.RequireBinaries(t, "kube-apiserver")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := localcp.Start(ctx, localcp.Options{Dir: t.TempDir(), BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	pr, err := kubeprobe.New(ctx, kubeprobe.Config{Host: l.Endpoint.Name, Port: l.Endpoint.Port,
		CAFile: l.Files.CA.Cert, CertFile: l.Files.Admin.Cert, KeyFile: l.Files.Admin.Key, Dial: l.Resolver().DialContext})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { pr.Watch(wctx) })
	defer func() { stopWatch(); wg.Wait() }()
	for _, p := range []interface {
		Name() string
		Once(context.Context) error
	}{pr.Fresh(), pr.Long(), pr.Writer(), pr.Writer(), pr.Writer()} {
		if err := p.Once(ctx); err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
	}
	res, err := pr.Result(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Acknowledged != 3 || res.MissingAcknowledged != 0 || res.WatchGaps != 0 {
		t.Fatalf("Result = %+v, want 3 acknowledged, none missing, no gaps", res)
	}
	if err := pr.Client().CoreV1().ConfigMaps(pr.Namespace()).Delete(ctx, "w-0000002", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err = pr.Result(ctx, 30*time.Second); err != nil || res.MissingAcknowledged != 1 {
		t.Fatalf("after deleting an acknowledged create: %+v, %v; want 1 missing", res, err)
	}
}
