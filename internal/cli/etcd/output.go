package etcd

import (
	"fmt"
	"os"
	"path/filepath"
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
	if err := emit(o.Out, rep, o.JSON, o.SVG); err != nil {
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

func emit(w interface{ Write([]byte) (int, error) }, rep *report.Report, jsonPath, svgPath string) error {
	if err := rep.WriteText(w); err != nil {
		return err
	}
	if jsonPath != "" {
		if err := writeFile(jsonPath, func(f *os.File) error { return report.WriteJSON(f, rep) }); err != nil {
			return fmt.Errorf("flag --json: %w", err)
		}
	}
	if svgPath != "" {
		if err := writeFile(svgPath, func(f *os.File) error { return report.WriteSVG(f, rep) }); err != nil {
			return fmt.Errorf("flag --svg: %w", err)
		}
	}
	return nil
}

func writeFile(path string, fill func(*os.File) error) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
