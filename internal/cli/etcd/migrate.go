package etcd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/endpointdns"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/migration/etcd/session"
	"github.com/handover-dev/handover/internal/plan"
)

const migrateLong = `Move every member of a running etcd cluster onto new members, without losing
quorum or an acknowledged write, and measure what clients saw.

For each target, one at a time: MemberAddAsLearner, start the member with
--initial-cluster-state=existing (the provisioner), wait until its applied
index reaches the leader's (a progress bar with throughput and ETA; while a
snapshot streams in, the bytes received), then MemberPromote (retried while
etcd answers "learner not ready"). Then MoveLeader to a target, verify that
the followers have the same HashKV (one at a time, the leader left out so
writes do not stall), and
remove the source members one at a time, followers first, re-checking health
and quorum before each. The first removal is the point of no return: before
it, a failed gate, a timeout or Ctrl-C removes and stops the added members,
leaving the cluster as it was. Membership order follows GEP-0039 (add all,
then remove): exactly one intermediate membership has no majority side if
the old/new link breaks, and it is the largest one possible (--plan shows
the arithmetic).

Progress is checkpointed in --state-dir (the plan's state and the source
members; never member data). If handover is killed, run the same command
again: it re-reads the membership and finishes or rolls back. A migration
that ended (succeeded or rolled back) is not run again from the same state
dir: give another --state-dir to start a new one.

Member data lives in --data-dir (required for --provisioner process, made
absolute, refused inside --state-dir): it is the migrated cluster's data,
never delete it. If a state dir is lost while members it started still run
or keep data there, a new run refuses and says what to do instead of
starting over them.

Before anything changes, a preflight refuses with every reason found: an
unreachable endpoint or member, an alarm, no or split leader, a learner
already present, members or the target binary on different major.minor
versions, a duplicate member name, a target URL that is already a member's,
an RTT above --max-rtt, a database above --max-db-size, a target quota
below the source database plus headroom, fewer targets than it takes to keep
the sources' fault tolerance (unless --allow-reduced-fault-tolerance), a
port outside 1..65535 or a host that does not resolve.

Targets inherit the sources' settings: they run with the largest
--quota-backend-bytes the sources report on /metrics unless a --member-flag
sets it, and with every --member-flag KEY=VALUE. --plan prints the flags
each target runs with.

Provisioners start the target members:
  process   an etcd binary (--etcd-binary) in its own process group, data in
            --data-dir/<name> (required); members outlive handover
  exec      your command (--exec), run with HANDOVER_ACTION=start|stop and the
            member in HANDOVER_* variables (name, URLs, initial cluster, the
            etcd flags handover would use)
  embedded  inside this process (tests and demos: members stop when it exits)

Before a source member is removed, its clients move first:
  1. the endpoints that remain are printed ("clients: use --endpoints=…")
     and passed to --on-endpoints, for clients with a static list (an API
     server's --etcd-servers); handover's own probe follows by itself
  2. after --drain-delay, --stop-source (when given) stops the member
     gracefully while the other voters keep quorum, so clients that follow
     the membership fail over before the removal instead of seeing their
     requests fail with "raft: stopped"
  3. a gate waits until the member's own /metrics show at most
     --drain-max-rate client requests/s (KV, Lease); after
     --drain-timeout the migration stops (rerun to resume), naming the
     member and its remaining rate
  4. MemberRemove, then --removal-pace, so clients that sync the membership
     (clientv3 AutoSyncInterval) follow each change

Leadership moves from a source to a target once (move-leader). Raft drops
every write that reaches a member during a transfer, and etcd clients never
retry a write the server refused (etcd issue #8975): a client writing at
50/s loses about one write per transfer. --hold-clients makes it zero: the
command pauses your clients (HANDOVER_HOLD=hold), handover waits until the
members' /metrics show no request in flight, moves the leadership, waits
until every voter follows the new leader and resumes them
(HANDOVER_HOLD=release); clients wait tens of milliseconds instead of
failing. Without it the report counts the requests in flight at the move.
Zero failed requests for clients other than handover's probe needs their
cooperation: a static client must be rewired by the --on-endpoints hook; a
membership-following client keeps every member in its list until that
member is removed, so without --stop-source its traffic never drains and the
gate stops the migration rather than cut it off; and every writing client
needs --hold-clients around the leadership transfer (below).

While migrating, writers, linearizable readers and a watcher probe the
cluster (--probe-rate); the report counts failed requests, the longest
outage, the worst write stall, p99 latency, and verifies that no
acknowledged write is missing and the watch saw every revision. The probe
follows the membership (voters' client URLs) as it changes, as an API
server's --etcd-servers must.

Progress goes to stderr, the report to stdout (--json FILE, --svg FILE).`

const migrateExample = `  # the membership sequence and gates, changing nothing
  handover etcd migrate --endpoints http://10.0.0.1:2379,http://10.0.0.2:2379 \
      --to t1=http://10.0.1.1:2380,http://10.0.1.1:2379 \
      --to t2=http://10.0.1.2:2380,http://10.0.1.2:2379 \
      --to t3=http://10.0.1.3:2380,http://10.0.1.3:2379 --plan

  # migrate, starting the targets as local etcd processes, with TLS to the cluster
  handover etcd migrate --endpoints https://10.0.0.1:2379 --cacert ca.pem --cert client.pem --key client.key \
      --to t1=https://10.0.1.1:2380,https://10.0.1.1:2379 --member-cert member.pem --member-key member.key \
      --member-cacert ca.pem --provisioner process --etcd-binary /usr/local/bin/etcd \
      --json out/migrate.json --svg out/migrate.svg

  # start members elsewhere with your own script
  handover etcd migrate --endpoints http://10.0.0.1:2379 --to t1=http://10.0.1.1:2380,http://10.0.1.1:2379 \
      --provisioner exec --exec ./start-member.sh --target-version 3.6.5`

// Options are the flags of `handover etcd migrate`.
type Options struct {
	Endpoints          []string
	CACert, Cert, Key  string
	To                 []string
	Provisioner        string
	EtcdBinary         string
	DataDir            string
	Exec               string
	TargetVersion      string
	MemberCert         string
	MemberKey          string
	MemberCACert       string
	StateDir           string
	Plan               bool
	JSON, SVG          string
	CatchUpTimeout     time.Duration
	PromoteTimeout     time.Duration
	StepTimeout        time.Duration
	MaxRTT             time.Duration
	MaxDBSizeMiB       int64
	ProbeRate          float64
	NoProbe            bool
	DrainDelay         time.Duration
	MemberFlags        []string
	AllowReducedFT     bool
	OnEndpoints        string
	StopSource         string
	DrainMaxRate       float64
	DrainTimeout       time.Duration
	RemovalPace        time.Duration
	HoldClients        string
	DNSName            string
	DNSGet, DNSSet     string
	Out, Err           io.Writer
	lookupHost         lookupFunc
	Clock              clock.Clock
	embeddedForTesting *etcdmig.Embedded
}

func newMigrateCommand(clk clock.Clock) *cobra.Command {
	o := &Options{Clock: clk}
	cmd := &cobra.Command{
		Use:     "migrate --endpoints URL[,URL…] --to NAME=PEER_URL,CLIENT_URL [--to …]",
		Short:   "Move a cluster's members onto new members, learner by learner",
		Long:    migrateLong,
		Example: migrateExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out, o.Err = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Endpoints, "endpoints", nil, "client URLs of the running cluster (comma-separated or repeated); required")
	f.StringVar(&o.CACert, "cacert", "", "PEM file of the CA that signed the cluster's client certificates (https endpoints)")
	f.StringVar(&o.Cert, "cert", "", "PEM client certificate for the cluster")
	f.StringVar(&o.Key, "key", "", "PEM private key of --cert")
	f.StringArrayVar(&o.To, "to", nil, "a target member as name=peerURL,clientURL (repeat, in order); required")
	f.StringVar(&o.Provisioner, "provisioner", "process", "how target members are started: process, exec or embedded")
	f.StringVar(&o.EtcdBinary, "etcd-binary", "etcd", "etcd binary for --provisioner process")
	f.StringVar(&o.DataDir, "data-dir", "", "base directory of the targets' data, <dir>/<name> per member; required for process, must be outside --state-dir (embedded: a temporary dir; exec: /var/lib/etcd)")
	f.StringVar(&o.Exec, "exec", "", "command for --provisioner exec (split on spaces; gets HANDOVER_* variables)")
	f.StringVar(&o.TargetVersion, "target-version", "", "etcd version the exec provisioner's members run, checked by preflight")
	f.StringVar(&o.MemberCert, "member-cert", "", "PEM certificate the target members serve (clients and, for https peer URLs, peers)")
	f.StringVar(&o.MemberKey, "member-key", "", "PEM private key of --member-cert")
	f.StringVar(&o.MemberCACert, "member-cacert", "", "CA the target members trust for client certificates (enables client-cert auth)")
	f.StringVar(&o.StateDir, "state-dir", ".handover/etcd-migrate", "where progress is checkpointed; rerun with the same dir to resume")
	f.BoolVar(&o.Plan, "plan", false, "print the membership sequence, steps and gates, run the preflight, change nothing")
	f.StringVar(&o.JSON, "json", "", "write the report as JSON (handover.report/v1) to this file")
	f.StringVar(&o.SVG, "svg", "", "write the report's timeline as SVG to this file")
	f.DurationVar(&o.CatchUpTimeout, "catch-up-timeout", 0, "bound on each learner's catch-up (0 = 2m + 1s per MiB of database)")
	f.DurationVar(&o.PromoteTimeout, "promote-timeout", etcdmig.DefaultPromoteTimeout, "how long MemberPromote is retried while the learner is not ready")
	f.DurationVar(&o.StepTimeout, "step-timeout", etcdmig.DefaultStepTimeout, "bound on every other step")
	f.DurationVar(&o.MaxRTT, "max-rtt", 180*time.Millisecond, "refuse if a member's round trip from here is longer (0 = no limit)")
	f.Int64Var(&o.MaxDBSizeMiB, "max-db-size", 0, "refuse if a member's database is larger, in MiB (0 = no limit)")
	f.Float64Var(&o.ProbeRate, "probe-rate", 50, "probe writes and reads per second each")
	f.BoolVar(&o.NoProbe, "no-probe", false, "do not probe (no writes under handover-probe/)")
	f.DurationVar(&o.DrainDelay, "drain-delay", etcdmig.DefaultDrainDelay, "wait between moving clients off a source and removing it")
	f.StringArrayVar(&o.MemberFlags, "member-flag", nil, "an etcd flag every target runs with, as KEY=VALUE without dashes (repeat), e.g. quota-backend-bytes=8589934592; the sources' --quota-backend-bytes is inherited unless set here")
	f.StringVar(&o.OnEndpoints, "on-endpoints", "", "command run before each removal with the endpoints clients must use (HANDOVER_ENDPOINTS, HANDOVER_LEAVING_MEMBER); wire it to clients with a static endpoint list (split on spaces)")
	f.StringVar(&o.StopSource, "stop-source", "", "command that stops a source member gracefully (SIGTERM) before its removal (HANDOVER_MEMBER_NAME, HANDOVER_CLIENT_URLS, …), so membership-following clients fail over first (split on spaces)")
	f.Float64Var(&o.DrainMaxRate, "drain-max-rate", 1, "gate before each removal: the leaving member's /metrics must show at most this many client requests/s (KV, Lease) (0 = no gate)")
	f.DurationVar(&o.DrainTimeout, "drain-timeout", etcdmig.DefaultDrainTimeout, "how long the drain gate waits before the migration stops with the member and its remaining rate")
	f.DurationVar(&o.RemovalPace, "removal-pace", 5*time.Second, "wait after each removal, so clients that sync the membership (clientv3 AutoSyncInterval) follow each change")
	f.StringVar(&o.HoldClients, "hold-clients", "", "command run with HANDOVER_HOLD=hold before each leadership transfer and HANDOVER_HOLD=release after it; it must pause your clients' new requests (a proxy that stops forwarding, clients told to pause): raft drops writes sent during a transfer and etcd clients do not retry them (split on spaces)")
	f.StringVar(&o.DNSName, "dns-name", "", "a DNS name clients use to reach the cluster (one URL, e.g. https://etcd.example:2379): before each removal its A record is pointed at the members that remain (with --dns-get and --dns-set), then handover waits 2·TTL+1s; every member must serve clients on one port")
	f.StringVar(&o.DNSGet, "dns-get", "", "command printing the --dns-name record as \"TTL ADDR[,ADDR…]\" (sh -c, gets HANDOVER_DNS_NAME)")
	f.StringVar(&o.DNSSet, "dns-set", "", "command setting the --dns-name record to $HANDOVER_DNS_ADDRS (sh -c, gets HANDOVER_DNS_NAME)")
	f.BoolVar(&o.AllowReducedFT, "allow-reduced-fault-tolerance", false, "accept fewer targets than it takes to tolerate as many failed members as the sources (e.g. 3 → 1)")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	var err error
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if len(o.Endpoints) == 0 {
		return errors.New("flag --endpoints: required")
	}
	if len(o.To) == 0 {
		return errors.New("flag --to: at least one target is required")
	}
	if err := o.checkDNS(); err != nil {
		return err
	}
	if o.StateDir, o.DataDir, err = absDirs(o.StateDir, o.DataDir); err != nil {
		return err
	}
	var targets []etcdmig.Target
	for _, s := range o.To {
		t, err := etcdmig.ParseTarget(s)
		if err != nil {
			return fmt.Errorf("flag --to: %w", err)
		}
		targets = append(targets, t)
	}
	if o.lookupHost == nil {
		o.lookupHost = net.DefaultResolver.LookupHost
	}
	if err := checkHosts(ctx, targets, o.lookupHost); err != nil {
		return err
	}
	userFlags, err := etcdmig.ParseMemberFlags(o.MemberFlags)
	if err != nil {
		return fmt.Errorf("flag --member-flag: %w", err)
	}
	if _, err := etcdmig.TargetQuota(userFlags); err != nil {
		return fmt.Errorf("flag --member-flag: %w", err)
	}
	prov, err := o.provisioner()
	if err != nil {
		return err
	}
	memberTLS, err := o.memberTLS()
	if err != nil {
		return err
	}
	tlsCfg, err := clientTLS(o.CACert, o.Cert, o.Key)
	if err != nil {
		return err
	}
	st := stateDir(o.StateDir)
	saved, err := st.load()
	if err != nil {
		return err
	}
	if pp, ok := prov.(*etcdmig.Process); ok && saved == nil {
		if err := leftovers(pp, o.StateDir, targets); err != nil {
			return err
		}
	}
	var c *etcdmig.Cluster
	if saved == nil {
		c, err = etcdmig.Connect(ctx, o.Endpoints, tlsCfg, o.Clock)
	} else {
		// Resuming: some endpoints may be sources already removed.
		c, err = etcdmig.ConnectAny(ctx, saved.endpoints(o.Endpoints), tlsCfg, o.Clock)
	}
	if err != nil {
		return fmt.Errorf("flag --endpoints: %w", err)
	}
	defer func() { _ = c.Close() }()
	var sources []etcdmig.Member
	var dbSize int64
	var memberFlags []string
	var facts *etcdmig.Facts
	if saved != nil {
		if err := saved.matches(targets); err != nil {
			return err
		}
		sources, memberFlags = saved.Sources, saved.MemberFlags
		_, _ = fmt.Fprintf(o.Err, "resuming the migration checkpointed in %s\n", o.StateDir)
	} else {
		gathered, err := etcdmig.Gather(ctx, c, targets, prov)
		if err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
		facts = &gathered
		facts.MaxRTT, facts.MaxDBSize = o.MaxRTT, o.MaxDBSizeMiB<<20
		memberFlags = etcdmig.InheritFlags(userFlags, facts.SourceQuota())
		facts.TargetQuota, _ = etcdmig.TargetQuota(memberFlags)
		facts.AllowReducedFaultTolerance = o.AllowReducedFT
		if r := etcdmig.ReducedFaultTolerance(len(facts.Members), len(targets)); r != "" && o.AllowReducedFT {
			_, _ = fmt.Fprintf(o.Err, "warning: %s (--allow-reduced-fault-tolerance)\n", r)
		}
		refusal := etcdmig.PreflightError(etcdmig.Preflight(*facts))
		if refusal != nil && !o.Plan {
			return refusal
		}
		for _, m := range facts.Members {
			sources = append(sources, m.Member)
		}
		// Removal order follows the names (s1, s2, …), not the random IDs.
		slices.SortFunc(sources, func(a, b etcdmig.Member) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
		})
		dbSize = facts.DBSize()
		if o.Plan {
			return printPlan(o, c, prov, memberTLS, sources, targets, dbSize, memberFlags, facts, refusal)
		}
	}
	if o.Plan {
		return printPlan(o, c, prov, memberTLS, sources, targets, dbSize, memberFlags, facts, nil)
	}
	cp := plan.NewFileCheckpoint(st.checkpointPath())
	if saved == nil {
		if err := st.save(&savedState{Sources: sources, Targets: targets, MemberFlags: memberFlags}); err != nil {
			return err
		}
	} else if prev, err := cp.Load(ctx); err == nil && prev != nil && prev.Outcome != plan.OutcomeRunning && !prev.RollingBack {
		_, _ = fmt.Fprintf(o.Err, "the migration in %s already ended: %s %s\ngive another --state-dir to start a new one (this one holds no member data)\n", o.StateDir, prev.Outcome, prev.Reason)
		return outcomeError(prev, o.StateDir)
	}
	if prov.Kind() == "embedded" {
		_, _ = fmt.Fprintln(o.Err, "warning: --provisioner embedded runs the targets inside this process; they stop when it exits")
	}
	probeEndpoints, err := c.VoterEndpoints(ctx)
	if err != nil {
		return err
	}
	runs, err := st.loadRuns()
	if err != nil {
		return err
	}
	started := o.Clock.Now()
	runs = append(runs, runRecord{Started: started})
	if err := st.saveRuns(runs); err != nil {
		return err
	}
	out, err := session.Run(ctx, session.Options{
		Migration:      o.config(c, prov, memberTLS, sources, targets, dbSize, memberFlags),
		Checkpoint:     cp,
		ProbeEndpoints: probeEndpoints, ProbeTLS: tlsCfg, ProbeRate: o.ProbeRate, NoProbe: o.NoProbe,
		Log: o.Err, Clock: o.Clock, RollbackOnCancel: true,
	})
	if out != nil && out.State != nil && out.State.Outcome != plan.OutcomeRunning {
		hist := History(runs[:len(runs)-1], started, o.Clock.Now())
		run, werr := writeReport(o, out, hist)
		if werr == nil {
			runs[len(runs)-1].Ended, runs[len(runs)-1].Requests, runs[len(runs)-1].Failures = o.Clock.Now(), run.Requests, run.Failures
			werr = st.saveRuns(runs)
		}
		if werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	return outcomeError(out.State, o.StateDir)
}

// outcomeError is nil for a succeeded plan, else an error saying how it
// ended.
func outcomeError(st *plan.State, stateDir string) error {
	switch st.Outcome {
	case plan.OutcomeSucceeded:
		return nil
	case plan.OutcomeRolledBack:
		return fmt.Errorf("migration rolled back, the cluster is as it was: %s", st.Reason)
	default:
		return fmt.Errorf("migration %s: %s (state in %s)", strings.ToLower(string(st.Outcome)), st.Reason, stateDir)
	}
}

func (o *Options) config(c *etcdmig.Cluster, prov etcdmig.Provisioner, mt *etcdmig.MemberTLS,
	sources []etcdmig.Member, targets []etcdmig.Target, dbSize int64, memberFlags []string) etcdmig.Config {
	return etcdmig.Config{
		Name: "etcd-migration", Cluster: c, Sources: sources, Targets: targets, Provisioner: prov, TargetTLS: mt,
		MemberFlags: memberFlags, KeepFaultTolerance: !o.AllowReducedFT,
		OnEndpoints: o.publish(), StopSource: o.stopSource(),
		DrainMaxRate: o.DrainMaxRate, DrainTimeout: o.DrainTimeout, RemovalPace: o.RemovalPace,
		CatchUpTimeout: o.CatchUpTimeout, DBSize: dbSize, PromoteTimeout: o.PromoteTimeout,
		StepTimeout: o.StepTimeout, MaxRTT: o.MaxRTT, MaxDBSize: o.MaxDBSizeMiB << 20,
		DrainDelay: o.DrainDelay, Clock: o.Clock, Hold: o.hold(c),
	}
}

// publish is the endpoint hook: print and --on-endpoints, then the DNS
// record of --dns-name (both before each source removal only).
func (o *Options) publish() etcdmig.EndpointHook {
	printed := publishHook(o.Err, strings.Fields(o.OnEndpoints))
	if o.DNSName == "" {
		return printed
	}
	dns := etcdmig.DNSEndpoints(&endpointdns.Exec{Record: o.DNSName, GetCommand: o.DNSGet, SetCommand: o.DNSSet}, o.Clock)
	say := func(_ context.Context, ch etcdmig.EndpointChange) error {
		if ch.Leaving != nil && !ch.Reverted {
			_, _ = fmt.Fprintf(o.Err, "clients: pointing DNS name %s at %s (--dns-set), then waiting 2·TTL+1s\n", o.DNSName, strings.Join(ch.Endpoints, ","))
		}
		return nil
	}
	return etcdmig.Hooks(printed, say, dns)
}

// hold is the client hold of --hold-clients (nil without it).
func (o *Options) hold(c *etcdmig.Cluster) etcdmig.ClientHold {
	argv := strings.Fields(o.HoldClients)
	if len(argv) == 0 {
		return nil
	}
	return holdHook(o.Err, argv, c.VoterEndpoints)
}

func (o *Options) provisioner() (etcdmig.Provisioner, error) {
	dataDir := o.DataDir
	switch o.Provisioner {
	case "process":
		if dataDir == "" {
			return nil, errors.New("flag --data-dir: required with --provisioner process (where the target members keep their data; outside --state-dir)")
		}
		return &etcdmig.Process{Binary: o.EtcdBinary, BaseDir: dataDir}, nil
	case "embedded":
		if o.embeddedForTesting != nil {
			return o.embeddedForTesting, nil
		}
		if dataDir == "" {
			// The members die with this process; etcd creates the dir.
			dataDir = filepath.Join(os.TempDir(), fmt.Sprintf("handover-etcd-embedded-%d", os.Getpid()))
		}
		return &etcdmig.Embedded{BaseDir: dataDir}, nil
	case "exec":
		argv := strings.Fields(o.Exec)
		if len(argv) == 0 {
			return nil, errors.New("flag --exec: required with --provisioner exec")
		}
		return &etcdmig.Exec{Command: argv, DataDir: o.DataDir, TargetVersion: o.TargetVersion}, nil
	default:
		return nil, fmt.Errorf("flag --provisioner: unknown provisioner %q (want process, exec or embedded)", o.Provisioner)
	}
}

// stopSource is the StopSource hook of --stop-source (nil without it).
func (o *Options) stopSource() func(context.Context, etcdmig.Member) error {
	argv := strings.Fields(o.StopSource)
	if len(argv) == 0 {
		return nil
	}
	return stopSourceHook(o.Err, argv)
}

func (o *Options) memberTLS() (*etcdmig.MemberTLS, error) {
	if o.MemberCert == "" && o.MemberKey == "" {
		if o.MemberCACert != "" {
			return nil, errors.New("flag --member-cacert: needs --member-cert and --member-key")
		}
		return nil, nil
	}
	if o.MemberCert == "" || o.MemberKey == "" {
		return nil, errors.New("flags --member-cert and --member-key: give both or neither")
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	t := &etcdmig.MemberTLS{CertFile: abs(o.MemberCert), KeyFile: abs(o.MemberKey)}
	if o.MemberCACert != "" {
		t.TrustedCAFile, t.ClientCertAuth = abs(o.MemberCACert), true
	}
	return t, nil
}

// checkDNS validates the --dns-* flags: all three or none, a valid name.
func (o *Options) checkDNS() error {
	if o.DNSName == "" && o.DNSGet == "" && o.DNSSet == "" {
		return nil
	}
	if o.DNSName == "" || o.DNSGet == "" || o.DNSSet == "" {
		return errors.New("flags --dns-name, --dns-get and --dns-set: give all three or none")
	}
	if _, err := endpointdns.Canonical(o.DNSName); err != nil {
		return fmt.Errorf("flag --dns-name: %w", err)
	}
	for _, t := range o.To {
		tg, err := etcdmig.ParseTarget(t)
		if err != nil {
			continue // reported by the --to check
		}
		if _, _, err := etcdmig.DNSAddrs([]string{tg.ClientURL}); err != nil {
			return fmt.Errorf("flag --dns-name: target %q: %w", tg.Name, err)
		}
	}
	return nil
}
