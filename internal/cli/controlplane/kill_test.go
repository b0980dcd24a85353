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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	cpmig "github.com/handover-dev/handover/internal/migration/controlplane"
	"github.com/handover-dev/handover/internal/migration/controlplane/localcp"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/testenv"
	"github.com/handover-dev/handover/internal/testenv/pki"
)

// TestKilledAfterEveryStep runs `handover controlplane migrate` (with the
// write hold) as a real process against real etcd and kube-apiserver
// processes and SIGKILLs it inside step 1, then as soon as the checkpoint
// shows one more step done than when it started, and reruns the same
// command each time — one kill per step index, so a kill lands in every
// step (a step shorter than the 2 ms poll is passed over and the kill lands
// in the next; the log lists where each kill landed). The run that is not killed
// must finish: the record names the target, only target members remain,
// the target apiserver is Ready and no write-hold webhook is left.
func TestKilledAfterEveryStep(t *testing.T) {
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
	args = append(args, "--write-hold-listen", "127.0.0.1:0")
	checkpoint := filepath.Join(state, "checkpoint.json")
	var landed []string // the step running when each kill landed
	finished := false
	for run := 0; run < 40 && !finished; run++ {
		base, _ := doneSteps(checkpoint)
		cmd := exec.Command(handover, args...)
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("run-%02d.log", run)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.After(3 * time.Minute)
	poll:
		for {
			select {
			case err := <-done:
				_ = log.Close()
				if err != nil {
					b, _ := os.ReadFile(log.Name())
					t.Fatalf("run %d ended with %v before a kill\n%s", run, err, b)
				}
				finished = true
				break poll
			case <-deadline:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				t.Fatalf("run %d: no step finished in 3 minutes (from step %d)", run, base)
			case <-time.After(2 * time.Millisecond):
			}
			// Kill only while a step is still to run: once every step is
			// done the runner saves the outcome at once, and a kill that
			// lands after that save leaves nothing to resume.
			// The first run is killed inside step 1, as soon as its
			// checkpoint exists; every later run once one more step is done.
			if st := loadState(checkpoint); st != nil && st.Outcome == "" && st.DoneSteps() < len(st.Steps) && (st.DoneSteps() > base || (run == 0 && len(st.Steps) > 0)) {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				_ = log.Close()
				running := "after the last step"
				if n := st.DoneSteps(); n < len(st.Steps) {
					running = fmt.Sprintf("%d %s", n+1, st.Steps[n].Name)
				}
				landed = append(landed, running)
				break poll
			}
		}
	}
	t.Logf("%d kills, landing in steps: %s", len(landed), strings.Join(landed, "; "))
	if !finished {
		t.Fatalf("not finished after %d killed runs", len(landed))
	}
	if n, oc := doneSteps(checkpoint); oc != plan.OutcomeSucceeded {
		t.Fatalf("final outcome %s with %d steps done", oc, n)
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
	cs, err := kubernetes.NewForConfig(ep.At(localcp.TargetAddr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, cpmig.WriteHoldWebhook, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("write-hold webhook after the migration: %v, want not found", err)
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
	st := loadState(path)
	if st == nil {
		return 0, ""
	}
	return st.DoneSteps(), st.Outcome
}

// loadState reads the checkpoint (nil while there is none or it cannot be
// read).
func loadState(path string) *plan.State {
	st, err := plan.NewFileCheckpoint(path).Load(context.Background())
	if err != nil {
		return nil
	}
	return st
}
