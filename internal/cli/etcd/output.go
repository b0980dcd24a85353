package etcd

import (
	"fmt"
	"path/filepath"
	"strings"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/migration/etcd/session"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/report"
)

// printPlan writes the --plan output: members (with the settings read from
// them when facts is not nil), the flags each target runs with, the
// membership sequence, the plan's steps and gates, and the preflight
// verdict. It changes nothing.
func printPlan(o *Options, c *etcdmig.Cluster, prov etcdmig.Provisioner, mt *etcdmig.MemberTLS,
	sources []etcdmig.Member, targets []etcdmig.Target, dbSize int64, memberFlags []string, facts *etcdmig.Facts, refusal error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "etcd migration: %d source members → %d targets (provisioner: %s)\n", len(sources), len(targets), prov.Kind())
	b.WriteString("sources:\n")
	for _, s := range sources {
		fmt.Fprintf(&b, "  %-8s peer %s", s.Name, strings.Join(s.PeerURLs, ","))
		if mf := factsOf(facts, s.ID); mf != nil {
			quota := "unknown"
			if mf.QuotaBytes > 0 {
				quota = fmt.Sprintf("%d bytes", mf.QuotaBytes)
			}
			fmt.Fprintf(&b, " etcd %s, database %.1f MiB, quota %s", mf.Version, float64(mf.DBSize)/(1<<20), quota)
		}
		b.WriteString("\n")
	}
	quota, _ := etcdmig.TargetQuota(memberFlags)
	fmt.Fprintf(&b, "targets (quota %d bytes; at least %.1f MiB needed for a %.1f MiB database):\n", quota, float64(etcdmig.MinTargetQuota(dbSize))/(1<<20), float64(dbSize)/(1<<20))
	members := append([]etcdmig.Member(nil), sources...)
	for _, t := range targets {
		fmt.Fprintf(&b, "  %-8s peer %s client %s\n", t.Name, t.PeerURL, t.ClientURL)
		members = append(members, etcdmig.Member{Name: t.Name, PeerURLs: []string{t.PeerURL}})
		ic, err := etcdmig.InitialCluster(members, t)
		if err != nil {
			return err
		}
		spec := etcdmig.MemberSpec{Name: t.Name, PeerURL: t.PeerURL, ClientURL: t.ClientURL, InitialCluster: ic,
			ClusterState: "existing", TLS: mt, Flags: memberFlags}
		flags := etcdmig.EtcdFlags(spec, targetDataDir(o, prov, t.Name))
		if prov.Kind() == "process" {
			flags = append(flags, "--listen-metrics-urls=<a free port on 127.0.0.2, chosen at start>")
		}
		fmt.Fprintf(&b, "           %s\n", strings.Join(flags, " "))
	}
	seq, err := etcdmig.DescribeSequence(sources, targets)
	if err != nil {
		return err
	}
	b.WriteString(seq)
	p, err := etcdmig.NewPlan(o.config(c, prov, mt, sources, targets, dbSize, memberFlags))
	if err != nil {
		return err
	}
	b.WriteString(plan.Describe(p))
	b.WriteString(clientsNote(o))
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

// clientsNote says plainly what zero failed requests for clients other
// than handover's probe needs from the user, given the hook flags.
func clientsNote(o *Options) string {
	var b strings.Builder
	b.WriteString("clients other than handover's probe:\n")
	if o.DNSName != "" {
		fmt.Fprintf(&b, "  clients that use the DNS name %s: its A record follows the members that remain before each removal (--dns-set), then 2·TTL+1s\n", o.DNSName)
	}
	if o.OnEndpoints == "" {
		b.WriteString("  static endpoint lists (an API server's --etcd-servers): no --on-endpoints hook; the new endpoints are only printed, rewire them yourself before each removal\n")
	} else {
		fmt.Fprintf(&b, "  static endpoint lists: --on-endpoints %q gets the new endpoints before each removal\n", o.OnEndpoints)
	}
	switch {
	case o.StopSource != "":
		fmt.Fprintf(&b, "  membership-following clients: --stop-source %q stops each source gracefully before its removal\n", o.StopSource)
	case o.DrainMaxRate > 0:
		fmt.Fprintf(&b, "  membership-following clients: no --stop-source; they keep a source in their list until it is removed; while they send it more than %.1f requests/s the drain gate holds the removal and stops the migration after %s\n", o.DrainMaxRate, o.DrainTimeout)
	default:
		b.WriteString("  membership-following clients: no --stop-source and no drain gate; their requests in flight to a removed member fail\n")
	}
	if o.HoldClients != "" {
		fmt.Fprintf(&b, "  leadership transfer: --hold-clients %q pauses clients until it is done and every voter follows the new leader\n", o.HoldClients)
	} else {
		b.WriteString("  leadership transfer: no --hold-clients; raft drops writes sent during it and etcd clients do not retry them (about one per transfer at 50 writes/s)\n")
	}
	return b.String()
}

// factsOf returns the facts gathered about member id (nil when none).
func factsOf(f *etcdmig.Facts, id uint64) *etcdmig.MemberFacts {
	if f == nil {
		return nil
	}
	for i := range f.Members {
		if f.Members[i].ID == id && f.Members[i].Reachable {
			return &f.Members[i]
		}
	}
	return nil
}

// targetDataDir is the data directory the provisioner gives target name.
func targetDataDir(o *Options, prov etcdmig.Provisioner, name string) string {
	switch p := prov.(type) {
	case *etcdmig.Process:
		return filepath.Join(p.BaseDir, name)
	case *etcdmig.Embedded:
		return filepath.Join(p.BaseDir, name)
	}
	if o.DataDir != "" {
		return filepath.Join(o.DataDir, name)
	}
	return filepath.Join("/var/lib/etcd", name)
}

// writeReport prints the text report to o.Out and writes --json / --svg.
// For a resumed migration (hist.Runs > 1) the report says which part of the
// migration it measured: metrics runs, unreported_runs, unmeasured_s and
// migration_wall_s, and a line saying so. It returns the report's run.
func writeReport(o *Options, out *session.Outcome, hist runHistory) (report.Run, error) {
	run := session.ReportRun("etcd-migration", out)
	if hist.Runs > 1 {
		run.Metrics["runs"] = float64(hist.Runs)
		run.Metrics["unreported_runs"] = float64(hist.Unreported)
		run.Metrics["unmeasured_s"] = hist.Unmeasured.Seconds()
		run.Metrics["migration_wall_s"] = hist.Wall.Seconds()
	}
	rep := report.New(run)
	if err := rep.WriteText(o.Out); err != nil {
		return run, err
	}
	if err := session.WriteReportFiles(rep, o.JSON, o.SVG); err != nil {
		return run, err
	}
	if out.Probed {
		catchUp := "no catch-up in this run"
		if v, ok := run.Metrics["catchup_mib_per_s"]; ok {
			catchUp = fmt.Sprintf("catch-up %.1f MiB/s per learner", v)
		}
		if _, err := fmt.Fprintf(o.Out, "\nworst write stall %.0f ms (began in %q); acknowledged writes %d, missing %d, watch gaps %d; %s\n",
			run.Metrics["worst_write_stall_ms"], out.WorstStallPhase, run.Checks["acknowledged_writes"],
			run.Checks["missing_acknowledged_writes"], run.Checks["watch_gaps"], catchUp); err != nil {
			return run, err
		}
	}
	for _, t := range out.Transfers {
		if _, err := fmt.Fprintf(o.Out, "leadership transfer %s\n", t); err != nil {
			return run, err
		}
	}
	if _, err := fmt.Fprint(o.Out, clientsNote(o)); err != nil {
		return run, err
	}
	if line := hist.String(); line != "" {
		if _, err := fmt.Fprintln(o.Out, line); err != nil {
			return run, err
		}
	}
	return run, nil
}
