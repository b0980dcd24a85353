package etcd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/plan"
)

// buildBinaries builds the pinned etcd server (go.mod's tool directive) and
// handover itself into dir.
func buildBinaries(t *testing.T, dir string) (etcdBin, handoverBin string) {
	t.Helper()
	etcdBin, handoverBin = filepath.Join(dir, "etcd"), filepath.Join(dir, "handover")
	for _, b := range [][]string{
		{"build", "-o", etcdBin, "go.etcd.io/etcd/server/v3"},
		{"build", "-o", handoverBin, "github.com/handover-dev/handover/cmd/handover"},
	} {
		cmd := exec.Command("go", b...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(b, " "), err, out)
		}
	}
	return etcdBin, handoverBin
}

// processCluster starts n etcd processes as a new cluster named s1…sn.
func processCluster(t *testing.T, prov *etcdmig.Process, n int) []etcdmig.Target {
	t.Helper()
	ctx := context.Background()
	var ms []etcdmig.Target
	var ic []string
	urls, err := etcdmig.FreeLoopbackURLs(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m := etcdmig.Target{Name: fmt.Sprintf("s%d", i+1), PeerURL: urls[2*i], ClientURL: urls[2*i+1]}
		ms = append(ms, m)
		ic = append(ic, m.Name+"="+m.PeerURL)
	}
	for _, m := range ms {
		t.Cleanup(func() { _ = prov.Stop(context.Background(), m.Name) })
		if err := prov.Start(ctx, etcdmig.MemberSpec{Name: m.Name, PeerURL: m.PeerURL, ClientURL: m.ClientURL,
			InitialCluster: strings.Join(ic, ","), ClusterState: "new", ClusterToken: "kill-test"}); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

func doneSteps(path string) (int, plan.Outcome) {
	st := loadState(path)
	return st.DoneSteps(), outcomeOf(st)
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

func outcomeOf(st *plan.State) plan.Outcome {
	if st == nil {
		return ""
	}
	return st.Outcome
}

// killable reports whether a run may be SIGKILLed now that its checkpoint is
// st and base steps were done when it started: one more step is done and a
// step is still to run. Once every step is done the runner saves the outcome
// at once, and a kill that lands after that save leaves nothing to resume.
func killable(st *plan.State, base int) bool {
	return st != nil && st.Outcome == "" && st.DoneSteps() > base && st.DoneSteps() < len(st.Steps)
}

// TestKilledBetweenEveryStep runs `handover etcd migrate` as a real process
// against a 3-member cluster of etcd processes, SIGKILLs it each time one
// more step is checkpointed Done, and starts it again, until a run finishes
// by itself. The migration must complete with the targets as the only
// members and every key intact.
func TestKilledBetweenEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds etcd and handover, runs real processes")
	}
	bin := t.TempDir()
	etcdBin, handoverBin := buildBinaries(t, bin)
	srcProv := &etcdmig.Process{Binary: etcdBin, BaseDir: t.TempDir()}
	ms := processCluster(t, srcProv, 3)
	ctx := context.Background()
	var c *etcdmig.Cluster
	var err error
	for range 50 {
		if c, err = etcdmig.Connect(ctx, endpointsOf(ms), nil, nil); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	for i := range 100 {
		if _, err := c.Client().Put(ctx, fmt.Sprintf("data/%04d", i), strings.Repeat("d", 512)); err != nil {
			t.Fatal(err)
		}
	}
	targetDir := t.TempDir()
	var targets []etcdmig.Target
	args := []string{"etcd", "migrate", "--endpoints", strings.Join(endpointsOf(ms), ","),
		"--provisioner", "process", "--etcd-binary", etcdBin, "--data-dir", targetDir,
		"--probe-rate", "20", "--drain-delay", "200ms", "--removal-pace", "1s"}
	urls, err := etcdmig.FreeLoopbackURLs(6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		tg := etcdmig.Target{Name: fmt.Sprintf("t%d", i+1), PeerURL: urls[2*i], ClientURL: urls[2*i+1]}
		targets = append(targets, tg)
		args = append(args, "--to", tg.String())
	}
	tgtProv := &etcdmig.Process{Binary: etcdBin, BaseDir: targetDir}
	t.Cleanup(func() {
		for _, tg := range targets {
			_ = tgtProv.Stop(context.Background(), tg.Name)
		}
	})
	state := filepath.Join(t.TempDir(), "state")
	args = append(args, "--state-dir", state)
	cp := filepath.Join(state, "checkpoint.json")

	kills := 0
	var lastOut []byte
	for run := 0; run < 60; run++ {
		base, _ := doneSteps(cp)
		cmd := exec.Command(handoverBin, args...)
		logf, err := os.Create(filepath.Join(bin, fmt.Sprintf("run-%02d.log", run)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var werr error
		finished := false
	poll:
		for {
			select {
			case werr = <-exited:
				finished = true
				break poll
			case <-time.After(10 * time.Millisecond):
				// Kill only while a step is still to run: a kill after
				// the outcome is saved leaves the next run nothing to
				// resume, and so no report to check.
				if killable(loadState(cp), base) {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					<-exited
					kills++
					break poll
				}
			}
		}
		_ = logf.Close()
		lastOut, _ = os.ReadFile(logf.Name())
		if finished {
			if werr != nil {
				t.Fatalf("run %d exited with %v:\n%s", run, werr, lastOut)
			}
			break
		}
	}
	n, outcome := doneSteps(cp)
	if outcome != plan.OutcomeSucceeded {
		t.Fatalf("outcome %q after %d kills, %d steps done; last run:\n%s", outcome, kills, n, lastOut)
	}
	if kills < 15 {
		t.Errorf("only %d kills for a 20-step plan", kills)
	}
	t.Logf("%d kills; last run:\n%s", kills, lastOut)
	// The last run's report says it covers only the end of the migration.
	if !strings.Contains(string(lastOut), "ended without a report (killed)") || !strings.Contains(string(lastOut), "this report covers run") {
		t.Errorf("the resumed run's report does not mark the killed runs' gap:\n%s", lastOut)
	}

	tc, err := etcdmig.Connect(ctx, []string{targets[0].ClientURL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tc.Close() }()
	got, err := tc.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range got {
		names = append(names, fmt.Sprintf("%s learner=%v", m.Name, m.IsLearner))
	}
	slices.Sort(names)
	if want := []string{"t1 learner=false", "t2 learner=false", "t3 learner=false"}; !slices.Equal(names, want) {
		t.Fatalf("members %q, want %q", names, want)
	}
	resp, err := tc.Client().Get(ctx, "data/", clientWithPrefixCount()...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 100 {
		t.Fatalf("%d data keys on the targets, want 100", resp.Count)
	}
	if _, err := etcdmig.VerifyHash(ctx, tc, got); err != nil {
		t.Fatal(err)
	}
}
