package etcd

import (
	"fmt"
	"strings"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/migration/etcd/session"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/report"
)

// printPlan writes the --plan output: members, membership sequence, the
// plan's steps and gates, and the preflight verdict. It changes nothing.
func printPlan(o *Options, c *etcdmig.Cluster, prov etcdmig.Provisioner, mt *etcdmig.MemberTLS,
	sources []etcdmig.Member, targets []etcdmig.Target, dbSize int64, refusal error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "etcd migration: %d source members → %d targets (provisioner: %s)\n", len(sources), len(targets), prov.Kind())
	b.WriteString("sources:\n")
	for _, s := range sources {
		fmt.Fprintf(&b, "  %-8s peer %s\n", s.Name, strings.Join(s.PeerURLs, ","))
	}
	b.WriteString("targets:\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "  %-8s peer %s client %s\n", t.Name, t.PeerURL, t.ClientURL)
	}
	seq, err := etcdmig.DescribeSequence(sources, targets)
	if err != nil {
		return err
	}
	b.WriteString(seq)
	p, err := etcdmig.NewPlan(o.config(c, prov, mt, sources, targets, dbSize))
	if err != nil {
		return err
	}
	b.WriteString(plan.Describe(p))
	if refusal != nil {
		fmt.Fprintf(&b, "preflight: %v\n", refusal)
	} else {
		b.WriteString("preflight: passes now; it runs again as the first step\n")
	}
	if _, err := fmt.Fprint(o.Out, b.String()); err != nil {
		return err
	}
	return refusal
}

// writeReport prints the text report to o.Out and writes --json / --svg.
func writeReport(o *Options, out *session.Outcome) error {
	run := session.ReportRun("etcd-migration", out)
	rep := report.New(run)
	if err := rep.WriteText(o.Out); err != nil {
		return err
	}
	if err := session.WriteReportFiles(rep, o.JSON, o.SVG); err != nil {
		return err
	}
	if out.Probed {
		_, err := fmt.Fprintf(o.Out, "\nworst write stall %.0f ms (began in %q); acknowledged writes %d, missing %d, watch gaps %d; catch-up %.1f MiB/s per learner\n",
			run.Metrics["worst_write_stall_ms"], out.WorstStallPhase, run.Checks["acknowledged_writes"],
			run.Checks["missing_acknowledged_writes"], run.Checks["watch_gaps"], run.Metrics["catchup_mib_per_s"])
		return err
	}
	return nil
}
