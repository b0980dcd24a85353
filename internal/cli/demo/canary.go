package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/handover-dev/handover/internal/canary"
	"github.com/handover-dev/handover/internal/canary/sample"
	"github.com/handover-dev/handover/internal/canary/scenario"
	canarycli "github.com/handover-dev/handover/internal/cli/canary"
	"github.com/handover-dev/handover/internal/migration/etcd/session"
	"github.com/handover-dev/handover/internal/report"
	"github.com/handover-dev/handover/internal/testenv/cluster"
)

const canaryLong = `Upgrade a controller three ways on a real kube-apiserver and show what its
objects went through: the controller canary (seed 003, Gloo Federation #6127).

The demo starts etcd and kube-apiserver (the binaries of make k8s-binaries),
installs the sample Route CRD and the ControllerCanary CRD, and runs the sample
controller (Routes rendered into child ConfigMaps, with orphan cleanup) under
impersonated identities sample-v1, sample-v2, sample-v3. v2 has seed 003's
bug: its orphan cleanup deletes every child it did not create itself.

Four runs, each on --routes fresh Routes in its own namespace:
  in-place     v2 replaces v1 the usual way; metrics children_deleted,
               children_total, recovered_ms
  shadow-bad   v2 in a shadow step (weight 0, --shadow long) before it owns
               anything: every write it attempts is denied and recorded,
               analysis.maxShadowDeletes 0 rolls the plan back; check
               children_deleted (0); metrics shadow_deletes (≈ every child),
               shadow_attempts, canary_requests_per_s and
               denied_writes_per_s (what the denied, retrying controller
               costs the apiserver); the record is printed as
               handover canary diff prints it
  canary-bad   v2 as a canary: first step 5 %, deletionBudget.maxDeletes
               --max-deletes; the budget trips the breaker, the plan throws
               the revert switch and rolls back by itself; metrics
               children_deleted (≤ the budget), detect_ms,
               revert_effective_ms, recovered_ms; outcome RolledBack
  canary-good  v3 promoted through 5/25/50/100 %; checks overlapping_writes
               and deletes_over_budget (both 0); metric handover_ms

The probes are the objects: every Route's child is sampled for presence and
correctness every 250 ms, so the timeline shows damage and recovery.
Enforcement needs no change to the controller: a generated
ValidatingAdmissionPolicy (its param is the ControllerCanary, so one write of
spec.revert flips every object) and a validating webhook served by handover
on 127.0.0.1.

The demo exits 1 unless in-place lost ≥ 90 % of the children, shadow-bad
deleted none and recorded ≥ 90 % of them as would-be deletes, canary-bad lost
at most the budget and rolled back, and canary-good succeeded with 0
overlapping writes. Progress goes to stderr, the report to stdout.`

// canaryOptions are the flags of `handover demo canary`.
type canaryOptions struct {
	Routes     int
	MaxDeletes int32
	BinDir     string
	JSON, SVG  string
	Shadow     time.Duration
	Runs       []string
}

func newCanaryCommand() *cobra.Command {
	o := &canaryOptions{}
	cmd := &cobra.Command{
		Use:   "canary",
		Short: "Upgrade a controller in place, as a bad canary and as a good canary, on a real kube-apiserver",
		Long:  canaryLong,
		Example: `  # the default: 1,000 Routes per run, report and timeline
  handover demo canary --json out/canary.json --svg out/canary.svg

  # a quick run
  handover demo canary --routes 200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCanary(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Routes, "routes", 1000, "Routes (main objects) per run")
	f.Int32Var(&o.MaxDeletes, "max-deletes", 10, "canary-bad's deletionBudget.maxDeletes")
	f.StringVar(&o.BinDir, "bin-dir", cluster.DefaultBinDir(os.Getenv), "directory with etcd and kube-apiserver (make k8s-binaries)")
	f.DurationVar(&o.Shadow, "shadow", scenario.DefaultShadowDuration, "shadow-bad's spec.shadow.duration")
	f.StringSliceVar(&o.Runs, "runs", nil, "run only these (comma-separated: in-place, shadow-bad, canary-bad, canary-good); empty = all")
	f.StringVar(&o.JSON, "json", "", "write the report as JSON (handover.report/v1) to this file")
	f.StringVar(&o.SVG, "svg", "", "write the report's timeline as SVG to this file")
	return cmd
}

func runCanary(ctx context.Context, o *canaryOptions, stdout, stderr io.Writer) error {
	if o.Routes < 20 || o.Routes > 20000 || o.MaxDeletes < 1 {
		return fmt.Errorf("flags --routes %d / --max-deletes %d: want 20 ≤ --routes ≤ 20000 and --max-deletes ≥ 1", o.Routes, o.MaxDeletes)
	}
	for _, r := range o.Runs {
		if r != scenario.RunInPlace && r != scenario.RunShadowBad && r != scenario.RunCanaryBad && r != scenario.RunCanaryGood {
			return fmt.Errorf("flag --runs: unknown run %q (want in-place, shadow-bad, canary-bad or canary-good)", r)
		}
	}
	if o.Shadow < time.Second {
		return fmt.Errorf("flag --shadow %s: want at least 1s", o.Shadow)
	}
	if err := cluster.CheckBinaries(o.BinDir, cluster.RequiredFiles()...); err != nil {
		return fmt.Errorf("demo canary needs a real kube-apiserver: %w", err)
	}
	// The demo prints its own progress; client-go's and controller-runtime's
	// logs (e.g. a watch cut when a version is stopped) would only be noise.
	ctrllog.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	// A kwok cluster of internal/testenv/cluster (as handover sandbox), not
	// envtest: envtest's package init writes a cache directory, which a
	// controller pod with a read-only root filesystem cannot, and the demo
	// shares the binary with the operator.
	dir, err := os.MkdirTemp("", "handover-demo-canary-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	_, _ = fmt.Fprintf(stderr, "starting etcd and kube-apiserver from %s\n", o.BinDir)
	cl, err := cluster.Start(ctx, cluster.Options{BinDir: o.BinDir, Dir: dir, Timeout: 2 * time.Minute})
	if err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = cl.Stop(stopCtx)
	}()
	cfg := cl.RESTConfig
	if err := sample.InstallCRDs(ctx, cfg, time.Minute); err != nil {
		return err
	}

	runs, err := scenario.Run(ctx, scenario.Options{Admin: cfg, Routes: o.Routes, MaxDeletes: o.MaxDeletes, Log: stderr,
		ShadowDuration: o.Shadow, Runs: o.Runs,
		OnShadow: func(run string, rec *canary.ShadowRecord) {
			_, _ = fmt.Fprintf(stderr, "%s: the shadow record, as `handover canary diff %s` prints it:\n", run, run)
			_ = canarycli.WriteDiff(stderr, rec, 5)
		}})
	if err != nil {
		return err
	}
	rep := report.New(runs...)
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	for _, r := range runs {
		_, _ = fmt.Fprintf(stdout, "\n%s: outcome %q, metrics %v, checks %v", r.Name, r.Outcome, r.Metrics, r.Checks)
	}
	_, _ = fmt.Fprintln(stdout)
	if err := session.WriteReportFiles(rep, o.JSON, o.SVG); err != nil {
		return err
	}
	if err := scenario.Verdict(runs); err != nil {
		return fmt.Errorf("demo canary: %w", err)
	}
	return nil
}
