package controlplane

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cpmig "github.com/handover-dev/handover/internal/migration/controlplane"
	"github.com/handover-dev/handover/internal/migration/controlplane/localcp"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/pki"
)

// TestKilledAtSteps runs `handover controlplane migrate` as a real process
// against real etcd and kube-apiserver processes, SIGKILLs it at several
// points (etcd growth, target apiserver start, right after the DNS switch,
// during the drain and the source stop, after the point of no return) and
// reruns the same command each time; the last run must finish: the record
// names the target, only target members remain, and the target apiserver
// is Ready.
func TestKilledAtSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds handover, runs two kube-apiservers and six etcd processes")
	}
	bins := testenv.RequireBinaries(t, "etcd", "kube-apiserver")
	dir := t.TempDir()
	handover := filepath.Join(dir, "handover")
	if out, err := exec.Command("go", "build", "-o", handover, "github.com/handover-dev/handover/cmd/handover").CombinedOutput(); err != nil {
		t.Fatalf("build handover: %v\n%s", err, out)
	}
	ctx := context.Background()
	files, err := pki.GenerateWith(filepath.Join(dir, "pki"), time.Now(), pki.Options{APIServerNames: []string{localcp.EndpointName},
		APIServerIPs: []net.IP{net.IP(localcp.SourceAddr.AsSlice()), net.IP(localcp.TargetAddr.AsSlice())}})
	if err != nil {
		t.Fatal(err)
	}
	port, err := localcp.FreePortOnBoth()
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	srcEtcd := &etcdmig.Process{Binary: filepath.Join(bins, "etcd"), BaseDir: filepath.Join(dir, "src-etcd")}
	dstEtcd := &etcdmig.Process{Binary: filepath.Join(bins, "etcd"), BaseDir: filepath.Join(data, "etcd")}
	apis := &cpmig.Process{Binary: filepath.Join(bins, "kube-apiserver"), BaseDir: filepath.Join(data, "apiservers")}
	urls, err := etcdmig.FreeLoopbackURLs(12)
	if err != nil {
		t.Fatal(err)
	}
	var ic, eps []string
	for i := range 3 {
		ic = append(ic, fmt.Sprintf("s%d=%s", i+1, urls[2*i]))
		eps = append(eps, urls[2*i+1])
	}
	for i := range 3 {
		name := fmt.Sprintf("s%d", i+1)
		t.Cleanup(func() { _ = srcEtcd.Stop(context.Background(), name) })
		if err := srcEtcd.Start(ctx, etcdmig.MemberSpec{Name: name, PeerURL: urls[2*i], ClientURL: urls[2*i+1],
			InitialCluster: strings.Join(ic, ","), ClusterState: "new", ClusterToken: "cp-kill"}); err != nil {
			t.Fatal(err)
		}
	}
	spec := func(name string, a netip.Addr, etcd []string) cpmig.APIServerSpec {
		return cpmig.APIServerSpec{Name: name, Addr: a, Port: port, EtcdServers: etcd,
			CertFile: files.APIServer.Cert, KeyFile: files.APIServer.Key, ClientCAFile: files.CA.Cert,
			ServiceAccountKeyFile: files.ServiceAccountKey, ServiceAccountPubFile: files.ServiceAccountPub}
	}
	source := spec("source", localcp.SourceAddr, eps)
	t.Cleanup(func() {
		for _, s := range []cpmig.APIServerSpec{source, spec("target", localcp.TargetAddr, eps)} {
			apis.Kill(s)
			_ = apis.Stop(context.Background(), s)
		}
		for i := range 3 {
			_ = dstEtcd.Stop(context.Background(), fmt.Sprintf("t%d", i+1))
		}
	})
	if err := apis.Start(ctx, source); err != nil {
		t.Fatal(err)
	}
	ep := cpmig.Endpoint{Name: localcp.EndpointName, Port: port, CAFile: files.CA.Cert, CertFile: files.Admin.Cert, KeyFile: files.Admin.Key}
	waitReady(t, ep, localcp.SourceAddr)
	record := filepath.Join(dir, "record")
	if err := os.WriteFile(record, []byte("1 127.0.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	args := []string{"controlplane", "migrate", "--endpoints", strings.Join(eps, ","),
		"--name", localcp.EndpointName, "--port", strconv.Itoa(port),
		"--source-addr", localcp.SourceAddr.String(), "--target-addr", localcp.TargetAddr.String(),
		"--cacert", files.CA.Cert, "--cert", files.Admin.Cert, "--key", files.Admin.Key,
		"--apiserver-cert", files.APIServer.Cert, "--apiserver-key", files.APIServer.Key, "--client-ca", files.CA.Cert,
		"--sa-key", files.ServiceAccountKey, "--sa-pub", files.ServiceAccountPub,
		"--dns-get", "cat " + record, "--dns-set", `printf '1 %s\n' "$HANDOVER_DNS_ADDRS" > ` + record,
		"--etcd-provisioner", "process", "--etcd-binary", filepath.Join(bins, "etcd"),
		"--apiserver-provisioner", "process", "--kube-apiserver", filepath.Join(bins, "kube-apiserver"),
		"--data-dir", data, "--state-dir", state, "--no-probe",
		"--shutdown-delay", "2s", "--watch-grace", "2s", "--source-shutdown-delay", "0s", "--source-watch-grace", "0s"}
	for i := range 3 {
		args = append(args, "--to", fmt.Sprintf("t%d=%s,%s", i+1, urls[6+2*i], urls[7+2*i]))
	}
	checkpoint := filepath.Join(state, "checkpoint.json")
	// Kill once the checkpoint shows this many steps done: inside the etcd
	// growth, at start-target, right after the DNS switch, in the drain, in
	// the source stop, after the first removal.
	for _, at := range []int{4, 14, 15, 16, 17, 21} {
		cmd := exec.Command(handover, args...)
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("run-%d.log", at)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		killed := false
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline) && !killed; {
			select {
			case err := <-done:
				_ = log.Close()
				b, _ := os.ReadFile(log.Name())
				t.Fatalf("run ended before step %d: %v\n%s", at, err, b)
			case <-time.After(20 * time.Millisecond):
			}
			if n, _ := doneSteps(checkpoint); n >= at {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				killed = true
			}
		}
		_ = log.Close()
		if !killed {
			t.Fatalf("step %d not reached in 3 minutes", at)
		}
		t.Logf("killed with %d steps done", at)
	}
	out, err := exec.Command(handover, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	if n, oc := doneSteps(checkpoint); oc != plan.OutcomeSucceeded {
		t.Fatalf("final outcome %s with %d steps done\n%s", oc, n, out)
	}
	if b, _ := os.ReadFile(record); strings.TrimSpace(string(b)) != "1 127.0.0.2" {
		t.Errorf("record after the migration: %q, want the target", b)
	}
	c, err := etcdmig.ConnectAny(ctx, []string{urls[7], urls[9], urls[11]}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ms, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"t1", "t2", "t3"}) {
		t.Errorf("members: %v, want t1 t2 t3", names)
	}
	if err := ep.Ready(ctx, localcp.TargetAddr); err != nil {
		t.Errorf("target apiserver: %v", err)
	}
}

func waitReady(t *testing.T, ep cpmig.Endpoint, a netip.Addr) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = ep.Ready(context.Background(), a); err == nil {
			return
		}
	}
	t.Fatalf("apiserver at %s not ready: %v", a, err)
}

func doneSteps(path string) (int, plan.Outcome) {
	st, err := plan.NewFileCheckpoint(path).Load(context.Background())
	if err != nil || st == nil {
		return 0, ""
	}
	return st.DoneSteps(), st.Outcome
}
