package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/migration/controlplane"
	"github.com/handover-dev/handover/internal/migration/controlplane/scenario"
	"github.com/handover-dev/handover/internal/migration/etcd/session"
	"github.com/handover-dev/handover/internal/report"
	"github.com/handover-dev/handover/internal/testenv/cluster"
)

const controlplaneLong = `Move a whole control plane — 3 etcd members and a kube-apiserver behind a
stable DNS name — to 3 new members and a new kube-apiserver while API clients
keep working, and compare three ways of doing it, measured by the same probes
(Gardener seed 002, GEP-0039):

  handover        the plan of "handover controlplane migrate": grow etcd onto the
                  target members (learners, catch-up, promote), start the target
                  apiserver and gate on /readyz and a LIST of every resource,
                  switch DNS, keep the source apiserver fully Ready for 2·TTL+1,
                  stop it gracefully (shutdown delay, 429 Retry-After, watch grace,
                  GOAWAY chance), then remove the source members
  poc             the proof of concept's order: the same etcd growth, then switch
                  DNS and stop the source apiserver at once
  backup-restore  what Gardener does today: snapshot etcd, stop the source,
                  restore on the target members, start the target apiserver,
                  switch DNS

Each run starts, inside a private network namespace (see handover demo --help),
a fresh source site on 127.0.0.1 (embedded etcd members, a real
kube-apiserver process) and a target site on 127.0.0.2 (same port: a DNS record
carries no port), and an authoritative DNS server on 127.0.0.1 answering the
name api.handover.test with a TTL of --ttl (1 s by default: small so the demo is
quick; production records carry 30–120 s and the drain grows to 2·TTL+1).

Probes resolve the name through a caching resolver that honours the TTL, like
a node-local cache: kube-fresh (a new TCP+TLS connection per LIST),
kube-long (one client-go clientset over HTTP/2), kube-create (ConfigMap
creates; every acknowledged one must be in the final LIST) and a watch checked
for resourceVersion continuity. kubectl runs in a bounded loop as an
independent client (through a CONNECT proxy that resolves via the same DNS);
its errors are counted separately (checks kubectl_runs, kubectl_errors); a
second loop writes with "kubectl create configmap" (kubectl_writes,
kubectl_write_errors).

The etcd leader moves to a target member while writes are held: handover
registers a validating webhook (failurePolicy Ignore) that holds every create,
update and delete until no proposal is pending, the leader has moved and the
hold is released (metrics write_hold_ms, held_writes). Without it raft drops
proposals during the transfer and kube-apiserver returns them as 500s.

Needs kube-apiserver and kubectl from "make k8s-binaries" (--bin-dir). Exits 1
unless the handover run succeeded with 0 failed requests, 0 missing
acknowledged writes, 0 watch gaps and 0 kubectl errors.`

const controlplaneExample = `  # the three runs side by side, report and timeline
  handover demo controlplane --json out/controlplane.json --svg out/controlplane.svg

  # only the handover run
  handover demo controlplane --runs handover`

type controlplaneOptions struct {
	BinDir    string
	TTL       time.Duration
	Latency   time.Duration
	Runs      []string
	ProbeRate float64
	JSON, SVG string
	Clock     clock.Clock
}

func newControlplaneCommand() *cobra.Command {
	o := &controlplaneOptions{Clock: clock.RealClock{}}
	cmd := &cobra.Command{
		Use:     "controlplane",
		Short:   "Move etcd and a kube-apiserver behind a DNS name to new hosts; compare handover, poc and backup-restore",
		Long:    controlplaneLong,
		Example: controlplaneExample,
		Args:    cobra.NoArgs,
		RunE: isolated(func(cmd *cobra.Command, _ []string) error {
			return runControlplane(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.BinDir, "bin-dir", cluster.DefaultBinDir(os.Getenv), "directory with kube-apiserver and kubectl (make k8s-binaries)")
	f.DurationVar(&o.TTL, "ttl", time.Second, "TTL of the endpoint's DNS record (whole seconds)")
	f.DurationVar(&o.Latency, "site-latency", 0, "round trip between the sites' etcd members, half each way, nothing within a site (in-process toxiproxy behind a router that knows each raft dialer's site): 0, 50ms, 180ms; the preflight refuses above 180ms")
	f.StringSliceVar(&o.Runs, "runs", []string{scenario.Handover, scenario.POC, scenario.BackupRestore}, "runs, in order: handover, poc, backup-restore")
	f.Float64Var(&o.ProbeRate, "probe-rate", 10, "attempts per second of each probe kind")
	f.StringVar(&o.JSON, "json", "", "write the report as JSON (handover.report/v1) to this file")
	f.StringVar(&o.SVG, "svg", "", "write the report's timeline as SVG to this file")
	return cmd
}

func runControlplane(ctx context.Context, o *controlplaneOptions, stdout, stderr io.Writer) error {
	if err := cluster.CheckBinaries(o.BinDir, "kube-apiserver", "kubectl"); err != nil {
		return fmt.Errorf("flag --bin-dir: %w", err)
	}
	if o.TTL < time.Second || o.TTL%time.Second != 0 {
		return fmt.Errorf("flag --ttl %s: want whole seconds ≥ 1s", o.TTL)
	}
	for _, r := range o.Runs {
		if r != scenario.Handover && r != scenario.POC && r != scenario.BackupRestore {
			return fmt.Errorf("flag --runs: %q: want handover, poc or backup-restore", r)
		}
	}
	if o.Latency < 0 {
		return fmt.Errorf("flag --site-latency %s: must not be negative", o.Latency)
	}
	if o.Latency > 0 {
		hb, el := controlplane.EtcdTimings(o.Latency)
		_, _ = fmt.Fprintf(stderr, "site latency %s: advised etcd --heartbeat-interval=%d --election-timeout=%d (the demo's members keep etcd's defaults)\n",
			o.Latency, hb.Milliseconds(), el.Milliseconds())
	}
	var runs []report.Run
	var handover *report.Run
	var verdicts []string
	for _, name := range o.Runs {
		out, err := scenario.Run(ctx, name, scenario.Options{BinDir: o.BinDir, TTL: o.TTL, SiteLatency: o.Latency,
			ProbeRate: o.ProbeRate, Log: stderr, Clock: o.Clock})
		if err != nil {
			return fmt.Errorf("run %s: %w", name, err)
		}
		if out.Outcome != "Succeeded" {
			_, _ = fmt.Fprintf(stderr, "[%s] %s: %s\n", name, out.Outcome, out.Reason)
		}
		r := scenario.ReportRun(out)
		runs = append(runs, r)
		_, _ = fmt.Fprintf(stderr, "[%s] %s: %d requests, %d failed, longest outage %.0f ms, missing acknowledged writes %d, watch gaps %d, kubectl errors %d/%d, kubectl create errors %d/%d\n",
			name, r.Outcome, r.Requests, r.Failures, r.LongestOutageMS, r.Checks["missing_acknowledged_writes"], r.Checks["watch_gaps"],
			r.Checks["kubectl_errors"], r.Checks["kubectl_runs"], r.Checks["kubectl_write_errors"], r.Checks["kubectl_writes"])
		if name == scenario.Handover {
			handover = &runs[len(runs)-1]
			verdicts = handoverVerdict(r)
		}
	}
	rep := report.New(runs...)
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if handover != nil {
		_, _ = fmt.Fprintf(stdout, "\nhandover: DNS TTL %.0f s, drain %.1f s, %.0f writes held %.0f ms around the etcd leader transfer, etcd catch-up %.1f MiB/s, wall %.1f s\n",
			handover.Metrics["dns_ttl_s"], handover.Metrics["drain_s"], handover.Metrics["held_writes"], handover.Metrics["write_hold_ms"], handover.Metrics["catchup_mib_per_s"], handover.Metrics["wall_ms"]/1000)
	}
	if err := session.WriteReportFiles(rep, o.JSON, o.SVG); err != nil {
		return err
	}
	if len(verdicts) > 0 {
		return errors.New("demo controlplane: handover run: " + strings.Join(verdicts, "; "))
	}
	return nil
}

// handoverVerdict lists what keeps the handover run from passing. Pure.
func handoverVerdict(r report.Run) []string {
	var bad []string
	if r.Outcome != "Succeeded" {
		bad = append(bad, "outcome "+r.Outcome)
	}
	if r.Failures != 0 {
		bad = append(bad, fmt.Sprintf("%d failed requests", r.Failures))
	}
	for _, k := range []string{"missing_acknowledged_writes", "watch_gaps", "kubectl_errors", "kubectl_write_errors"} {
		if r.Checks[k] != 0 {
			bad = append(bad, fmt.Sprintf("%s = %d", k, r.Checks[k]))
		}
	}
	return bad
}
