package etcd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/utils/clock"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// sourceQuota is the --quota-backend-bytes of sourceCluster's members (not
// etcd's default, so the targets' inheritance shows).
const sourceQuota = 3 << 30

// sourceCluster starts n embedded members named s1…sn with a quota of
// sourceQuota and returns them and a connected Cluster.
func sourceCluster(t *testing.T, n int) ([]etcdmig.Target, *etcdmig.Cluster) {
	t.Helper()
	ctx := context.Background()
	emb := &etcdmig.Embedded{BaseDir: t.TempDir(), Flags: []string{fmt.Sprintf("--quota-backend-bytes=%d", sourceQuota)}}
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("s%d", i+1))
	}
	ms, err := emb.StartCluster(ctx, "cli-"+t.Name(), names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	c, err := etcdmig.Connect(ctx, endpointsOf(ms), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return ms, c
}

func endpointsOf(ms []etcdmig.Target) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ClientURL)
	}
	return out
}

func membership(t *testing.T, c *etcdmig.Cluster) []string {
	t.Helper()
	ms, err := c.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%x %s learner=%v %v %v", m.ID, m.Name, m.IsLearner, m.PeerURLs, m.ClientURLs))
	}
	slices.Sort(out)
	return out
}

// runCLI runs `etcd migrate` in-process and returns stdout, stderr, error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append([]string{"migrate"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// fakeEtcd writes an executable that answers --version like etcd `version`.
func fakeEtcd(t *testing.T, version string) string {
	t.Helper()
	p := t.TempDir() + "/etcd"
	script := "#!/bin/sh\necho \"etcd Version: " + version + "\"\necho \"Git SHA: test\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

var _ clock.Clock = clock.RealClock{}

func replaceAll(s string, pairs map[string]string) string {
	for k, v := range pairs {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

func clientWithPrefixCount() []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}
}
