package controlplane

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/endpointdns"
	cpmig "github.com/handover-dev/handover/internal/migration/controlplane"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
	"github.com/handover-dev/handover/internal/migration/etcd/session"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/probe/harness"
	"github.com/handover-dev/handover/internal/probe/kubeprobe"
	"github.com/handover-dev/handover/internal/proc"
	"github.com/handover-dev/handover/internal/report"
)

const migrateLong = `Move a control plane — its etcd members and the kube-apiserver behind a stable
DNS name — to new hosts, in the order of Gardener GEP-0039, so API clients see
no failed request:

  1. preflight: etcd's (health, versions, learners, targets) and the
     apiserver's: the source answers /readyz and serves a certificate for
     --name; the target's --apiserver-cert carries it too; the record's TTL
     (≤ --max-ttl); --site-rtt (≤ --max-site-rtt, GEP-0039: 180 ms); the
     target kube-apiserver's version within one minor of the source's
  2. grow etcd onto the --to members (learner, catch-up, promote, as
     "handover etcd migrate")
  3. start the target kube-apiserver at --target-addr with --etcd-servers =
     the target members; gate: /readyz and a LIST of every served resource
  4. switch the DNS record to --target-addr; keep the source fully Ready for
     2·TTL+1; stop it gracefully (it should run with --goaway-chance,
     --shutdown-delay-duration, --shutdown-send-retry-after and
     --shutdown-watch-termination-grace-period)
  5. move etcd leadership to a target (with --write-hold-listen: while
     handover's admission webhook holds every write, so raft's transfer
     drops none), then remove the source members (point of no return: the
     first removal), verify

Before the point of no return a failed gate, a timeout or Ctrl-C switches DNS
back, stops the target apiserver and removes the added members. Progress is
checkpointed in --state-dir; rerun the same command to resume.

The DNS record is changed by your commands (--dns-get prints
"TTL ADDR[,ADDR…]", --dns-set gets HANDOVER_DNS_NAME and HANDOVER_DNS_ADDRS).
--plan prints the steps and gates and changes nothing.

--apiserver-provisioner process stops only an apiserver it started itself
(found by its --cert-dir under --data-dir); for a source apiserver deployed
some other way use --apiserver-provisioner exec with your own start/stop
command.`

const migrateExample = `  # the steps and gates, changing nothing
  handover controlplane migrate --endpoints http://10.0.0.1:2379 \
      --to t1=http://10.0.1.1:2380,http://10.0.1.1:2379 \
      --name api.example.com --port 443 --source-addr 10.0.0.10 --target-addr 10.0.1.10 \
      --cacert ca.pem --cert admin.pem --key admin-key.pem \
      --apiserver-cert apiserver.pem --apiserver-key apiserver-key.pem --client-ca ca.pem \
      --sa-key sa.key --sa-pub sa.pub \
      --dns-get ./dns-get.sh --dns-set ./dns-set.sh --plan`

// Options are the flags of `handover controlplane migrate`.
type Options struct {
	Endpoints, To                []string
	EtcdProvisioner, EtcdBinary  string
	EtcdExec, DataDir            string
	Name                         string
	Port                         int
	CACert, Cert, Key            string
	SourceAddr, TargetAddr       string
	APIServerCert, APIServerKey  string
	ClientCA, SAKey, SAPub       string
	APIServerProvisioner         string
	KubeAPIServer, APIServerExec string
	TargetVersion                string
	ShutdownDelay, WatchGrace    time.Duration
	SrcShutdownDelay, SrcWatch   time.Duration
	DNSGet, DNSSet               string
	MaxTTL, SiteRTT, MaxSiteRTT  time.Duration
	StateDir                     string
	WriteHoldListen              string
	OnEndpoints                  string
	Plan                         bool
	NoProbe                      bool
	ProbeRate                    float64
	JSON, SVG                    string
	Out, Err                     io.Writer
	Clock                        clock.Clock
	embeddedForTesting           *etcdmig.Embedded
}

func newMigrateCommand(clk clock.Clock) *cobra.Command {
	o := &Options{Clock: clk}
	cmd := &cobra.Command{
		Use:     "migrate --endpoints URL --to NAME=PEER,CLIENT … --name NAME --source-addr IP --target-addr IP …",
		Short:   "Move etcd members and the kube-apiserver behind a DNS name to new hosts",
		Long:    migrateLong,
		Example: migrateExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out, o.Err = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Endpoints, "endpoints", nil, "client URLs of the running etcd cluster; required")
	f.StringArrayVar(&o.To, "to", nil, "a target etcd member as name=peerURL,clientURL (repeat); required")
	f.StringVar(&o.EtcdProvisioner, "etcd-provisioner", "process", "how target etcd members start: process, exec or embedded")
	f.StringVar(&o.EtcdBinary, "etcd-binary", "etcd", "etcd binary for --etcd-provisioner process")
	f.StringVar(&o.EtcdExec, "etcd-exec", "", "command for --etcd-provisioner exec")
	f.StringVar(&o.DataDir, "data-dir", "", "base directory of started members' and apiservers' data (default --state-dir/data; never inside --state-dir's checkpoint)")
	f.StringVar(&o.Name, "name", "", "the endpoint's DNS name (in every kubeconfig and both serving certificates); required")
	f.IntVar(&o.Port, "port", 443, "the endpoint's port (both apiservers listen on it)")
	f.StringVar(&o.CACert, "cacert", "", "CA that verifies the apiservers; required")
	f.StringVar(&o.Cert, "cert", "", "client certificate allowed to LIST every resource; required")
	f.StringVar(&o.Key, "key", "", "private key of --cert; required")
	f.StringVar(&o.SourceAddr, "source-addr", "", "IPv4 address of the running apiserver; required")
	f.StringVar(&o.TargetAddr, "target-addr", "", "IPv4 address of the new apiserver; required")
	f.StringVar(&o.APIServerCert, "apiserver-cert", "", "serving certificate of the apiservers (must carry --name); required")
	f.StringVar(&o.APIServerKey, "apiserver-key", "", "its private key; required")
	f.StringVar(&o.ClientCA, "client-ca", "", "--client-ca-file of the apiservers; required")
	f.StringVar(&o.SAKey, "sa-key", "", "service-account signing key (shared by both apiservers); required")
	f.StringVar(&o.SAPub, "sa-pub", "", "service-account public key; required")
	f.StringVar(&o.APIServerProvisioner, "apiserver-provisioner", "process", "how apiservers start and stop: process or exec")
	f.StringVar(&o.KubeAPIServer, "kube-apiserver", "kube-apiserver", "kube-apiserver binary for --apiserver-provisioner process")
	f.StringVar(&o.APIServerExec, "apiserver-exec", "", "command for --apiserver-provisioner exec")
	f.StringVar(&o.TargetVersion, "target-version", "", "kube-apiserver version the exec provisioner runs (preflight)")
	f.DurationVar(&o.ShutdownDelay, "shutdown-delay", 15*time.Second, "--shutdown-delay-duration of the target apiserver (Gardener: 15s)")
	f.DurationVar(&o.WatchGrace, "watch-grace", 25*time.Second, "--shutdown-watch-termination-grace-period of the target apiserver")
	f.DurationVar(&o.SrcShutdownDelay, "source-shutdown-delay", 15*time.Second, "--shutdown-delay-duration the source apiserver runs with (bounds its stop; used if a rollback restarts it)")
	f.DurationVar(&o.SrcWatch, "source-watch-grace", 25*time.Second, "--shutdown-watch-termination-grace-period the source apiserver runs with")
	f.StringVar(&o.DNSGet, "dns-get", "", "command printing the record as \"TTL ADDR[,ADDR…]\"; required")
	f.StringVar(&o.DNSSet, "dns-set", "", "command setting the record to $HANDOVER_DNS_ADDRS; required")
	f.DurationVar(&o.MaxTTL, "max-ttl", cpmig.DefaultMaxTTL, "refuse a record whose TTL is longer")
	f.DurationVar(&o.SiteRTT, "site-rtt", 0, "measured RTT between the sites (preflight bound, etcd timing advice)")
	f.DurationVar(&o.MaxSiteRTT, "max-site-rtt", cpmig.DefaultMaxSiteRTT, "refuse above this RTT between the sites")
	f.StringVar(&o.WriteHoldListen, "write-hold-listen", "", "IP:PORT where handover serves its write-hold admission webhook, reachable from both apiservers (a concrete IP: its certificate names it); writes are held there while the etcd leader moves. Empty: the leader moves unheld and a write in flight can fail with a 500")
	f.StringVar(&o.OnEndpoints, "on-endpoints", "", "command told every endpoint change (env HANDOVER_ENDPOINTS_KIND apiserver|etcd, HANDOVER_ENDPOINTS, HANDOVER_STEP, HANDOVER_REVERTED, HANDOVER_LEAVING_MEMBER before a removal); a non-zero exit fails the step (a removal waits) and, before the point of no return, rolls the migration back")
	f.StringVar(&o.StateDir, "state-dir", ".handover/controlplane-migrate", "checkpoint directory; rerun with the same dir to resume")
	f.BoolVar(&o.NoProbe, "no-probe", false, "do not probe (the probe creates a namespace handover-probe-… and ConfigMaps in it)")
	f.Float64Var(&o.ProbeRate, "probe-rate", 5, "attempts per second of each probe kind")
	f.BoolVar(&o.Plan, "plan", false, "print the steps and gates, change nothing")
	f.StringVar(&o.JSON, "json", "", "write the report as JSON (handover.report/v1) to this file")
	f.StringVar(&o.SVG, "svg", "", "write the report's timeline as SVG to this file")
	return cmd
}

// saved is migration.json in the state dir: the sources as they were at
// the start, so a rerun builds the same plan after some were removed.
type saved struct {
	Sources []etcdmig.Member `json:"sources"`
	Targets []etcdmig.Target `json:"targets"`
}

func (o *Options) required() error {
	for _, r := range []struct{ flag, v string }{
		{"--name", o.Name}, {"--cacert", o.CACert}, {"--cert", o.Cert}, {"--key", o.Key},
		{"--source-addr", o.SourceAddr}, {"--target-addr", o.TargetAddr},
		{"--apiserver-cert", o.APIServerCert}, {"--apiserver-key", o.APIServerKey}, {"--client-ca", o.ClientCA},
		{"--sa-key", o.SAKey}, {"--sa-pub", o.SAPub}, {"--dns-get", o.DNSGet}, {"--dns-set", o.DNSSet},
	} {
		if r.v == "" {
			return fmt.Errorf("flag %s: required", r.flag)
		}
	}
	if len(o.Endpoints) == 0 {
		return errors.New("flag --endpoints: required")
	}
	if len(o.To) == 0 {
		return errors.New("flag --to: at least one target is required")
	}
	return nil
}

func run(ctx context.Context, o *Options) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if err := o.required(); err != nil {
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
	src, err := netip.ParseAddr(o.SourceAddr)
	if err != nil {
		return fmt.Errorf("flag --source-addr: %w", err)
	}
	dst, err := netip.ParseAddr(o.TargetAddr)
	if err != nil {
		return fmt.Errorf("flag --target-addr: %w", err)
	}
	dataDir := cmp.Or(o.DataDir, filepath.Join(o.StateDir, "data"))
	etcdProv, err := o.etcdProvisioner(dataDir)
	if err != nil {
		return err
	}
	apiProv, err := o.apiProvisioner(dataDir)
	if err != nil {
		return err
	}
	statePath := filepath.Join(o.StateDir, "migration.json")
	var prev *saved
	if b, err := os.ReadFile(statePath); err == nil {
		prev = &saved{}
		if err := json.Unmarshal(b, prev); err != nil || len(prev.Sources) == 0 {
			return fmt.Errorf("state dir: %s is not a migration record", statePath)
		}
		if !slices.Equal(prev.Targets, targets) {
			return fmt.Errorf("state dir holds a migration to %v, not %v: rerun with the same --to flags, or delete the state dir", prev.Targets, targets)
		}
	}
	eps := o.Endpoints
	if prev != nil {
		for _, m := range prev.Sources {
			eps = append(eps, m.ClientURLs...)
		}
		for _, t := range targets {
			eps = append(eps, t.ClientURL)
		}
	}
	c, err := etcdmig.ConnectAny(ctx, eps, nil, o.Clock)
	if err != nil {
		return fmt.Errorf("flag --endpoints: %w", err)
	}
	defer func() { _ = c.Close() }()
	sources := []etcdmig.Member(nil)
	if prev != nil {
		sources = prev.Sources
	} else {
		ms, err := c.Members(ctx)
		if err != nil {
			return fmt.Errorf("flag --endpoints: %w", err)
		}
		sources = ms
		slices.SortFunc(sources, func(a, b etcdmig.Member) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	spec := func(name string, addr netip.Addr) cpmig.APIServerSpec {
		return cpmig.APIServerSpec{Name: name, Addr: addr, Port: o.Port,
			CertFile: abs(o.APIServerCert), KeyFile: abs(o.APIServerKey), ClientCAFile: abs(o.ClientCA),
			ServiceAccountKeyFile: abs(o.SAKey), ServiceAccountPubFile: abs(o.SAPub)}
	}
	source := spec("source", src)
	source.EtcdServers = o.Endpoints
	source.ShutdownDelay, source.SendRetryAfter, source.WatchGrace = o.SrcShutdownDelay, true, o.SrcWatch
	target := spec("target", dst)
	target.ShutdownDelay, target.SendRetryAfter, target.WatchGrace, target.GoawayChance = o.ShutdownDelay, true, o.WatchGrace, 0.001
	cfg := cpmig.Config{
		Name:     "controlplane-migration",
		Etcd:     etcdmig.Config{Cluster: c, Sources: sources, Targets: targets, Provisioner: etcdProv, Clock: o.Clock},
		Endpoint: cpmig.Endpoint{Name: o.Name, Port: o.Port, CAFile: abs(o.CACert), CertFile: abs(o.Cert), KeyFile: abs(o.Key)},
		DNS:      &endpointdns.Exec{Record: o.Name, GetCommand: o.DNSGet, SetCommand: o.DNSSet},
		Source:   source, Target: target, SourceProvisioner: apiProv, TargetProvisioner: apiProv,
		MaxTTL: o.MaxTTL, SiteRTT: o.SiteRTT, MaxSiteRTT: o.MaxSiteRTT, Clock: o.Clock,
		OnEndpoints: endpointsHook(strings.Fields(o.OnEndpoints)),
	}
	if o.WriteHoldListen != "" && !o.Plan {
		hold, err := cpmig.StartWriteHold(o.WriteHoldListen, o.Clock)
		if err != nil {
			return fmt.Errorf("flag --write-hold-listen: %w", err)
		}
		defer func() { _ = hold.Close() }()
		cfg.WriteHold = hold
	}
	if o.WriteHoldListen != "" && o.Plan {
		// --plan describes the held plan without listening.
		cfg.WriteHold = &cpmig.WriteHold{}
	}
	cp, err := cpmig.NewPlan(cfg)
	if err != nil {
		return err
	}
	if o.Plan {
		return printPlan(o, cp, sources, targets)
	}
	if prev == nil {
		b, _ := json.MarshalIndent(saved{Sources: sources, Targets: targets}, "", "  ")
		if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		if err := proc.WriteFileAtomic(statePath, b); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	runner := plan.Runner{Checkpoint: plan.NewFileCheckpoint(filepath.Join(o.StateDir, "checkpoint.json")),
		Clock: o.Clock, RollbackOnCancel: true, Observers: []plan.Observer{session.NewPhaseLog(o.Err, o.Clock)}}
	st, err := o.runProbed(ctx, &runner, cp)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(o.Out, "controlplane migration %s; DNS TTL %s, drain %s\n", st.Outcome, cp.Stats.DNSTTL, cp.Stats.Drain.Round(time.Millisecond))
	switch st.Outcome {
	case plan.OutcomeSucceeded:
		return nil
	case plan.OutcomeRolledBack:
		return fmt.Errorf("migration rolled back, DNS and membership are as they were: %s", st.Reason)
	default:
		return fmt.Errorf("migration %s: %s (state in %s)", strings.ToLower(string(st.Outcome)), st.Reason, o.StateDir)
	}
}

func (o *Options) etcdProvisioner(dataDir string) (etcdmig.Provisioner, error) {
	switch o.EtcdProvisioner {
	case "process":
		return &etcdmig.Process{Binary: o.EtcdBinary, BaseDir: filepath.Join(dataDir, "etcd")}, nil
	case "embedded":
		if o.embeddedForTesting != nil {
			return o.embeddedForTesting, nil
		}
		return &etcdmig.Embedded{BaseDir: filepath.Join(dataDir, "etcd")}, nil
	case "exec":
		argv := strings.Fields(o.EtcdExec)
		if len(argv) == 0 {
			return nil, errors.New("flag --etcd-exec: required with --etcd-provisioner exec")
		}
		return &etcdmig.Exec{Command: argv, DataDir: o.DataDir}, nil
	default:
		return nil, fmt.Errorf("flag --etcd-provisioner: unknown provisioner %q (want process, exec or embedded)", o.EtcdProvisioner)
	}
}

func (o *Options) apiProvisioner(dataDir string) (cpmig.Provisioner, error) {
	switch o.APIServerProvisioner {
	case "process":
		return &cpmig.Process{Binary: o.KubeAPIServer, BaseDir: filepath.Join(dataDir, "apiservers")}, nil
	case "exec":
		argv := strings.Fields(o.APIServerExec)
		if len(argv) == 0 {
			return nil, errors.New("flag --apiserver-exec: required with --apiserver-provisioner exec")
		}
		return &cpmig.Exec{Command: argv, TargetVersion: o.TargetVersion}, nil
	default:
		return nil, fmt.Errorf("flag --apiserver-provisioner: unknown provisioner %q (want process or exec)", o.APIServerProvisioner)
	}
}

// printPlan writes the --plan output and changes nothing.
func printPlan(o *Options, cp *cpmig.Plan, sources []etcdmig.Member, targets []etcdmig.Target) error {
	var b strings.Builder
	fmt.Fprintf(&b, "controlplane migration: %s → %s behind %s:%d; etcd %d source members → %d targets\n",
		o.SourceAddr, o.TargetAddr, o.Name, o.Port, len(sources), len(targets))
	seq, err := etcdmig.DescribeSequence(sources, targets)
	if err != nil {
		return err
	}
	b.WriteString(seq)
	hb, el := cpmig.EtcdTimings(o.SiteRTT)
	fmt.Fprintf(&b, "site RTT %s (bound %s): advise etcd --heartbeat-interval=%d --election-timeout=%d\n",
		o.SiteRTT, o.MaxSiteRTT, hb.Milliseconds(), el.Milliseconds())
	if cp.Config.WriteHold == nil {
		b.WriteString("no write hold (--write-hold-listen not set): a write in flight while the etcd leader moves can fail with a 500\n")
	}
	b.WriteString(plan.Describe(cp.Plan))
	refusal := cpmig.CheckRTT(o.SiteRTT, o.MaxSiteRTT)
	if refusal != "" {
		fmt.Fprintf(&b, "preflight refuses: %s\n", refusal)
	}
	if _, err := fmt.Fprint(o.Out, b.String()); err != nil {
		return err
	}
	if refusal != "" {
		return errors.New("preflight: " + refusal)
	}
	return nil
}

// runProbed runs the plan with the kube-apiserver probes beside it (unless
// --no-probe), resolving --name through this machine's resolver like any
// client, then prints the report and writes --json / --svg.
func (o *Options) runProbed(ctx context.Context, runner *plan.Runner, cp *cpmig.Plan) (*plan.State, error) {
	if o.NoProbe {
		return runner.Run(ctx, cp.Plan)
	}
	var d net.Dialer
	ep := cp.Config.Endpoint
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	pr, err := kubeprobe.New(pctx, kubeprobe.Config{Host: ep.Name, Port: ep.Port, CAFile: ep.CAFile,
		CertFile: ep.CertFile, KeyFile: ep.KeyFile, Dial: d.DialContext, Clock: o.Clock})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("probe (use --no-probe to run without): %w", err)
	}
	var st *plan.State
	var runners []*probe.Runner
	for _, p := range []probe.Probe{pr.Fresh(), pr.Long(), pr.Writer()} {
		runners = append(runners, &probe.Runner{Probe: p, Rate: o.ProbeRate, Concurrency: 2, Timeout: 10 * time.Second})
	}
	hr, stop := harness.Run(ctx, harness.Options{Probes: runners, Background: []func(context.Context){pr.Watch}, Clock: o.Clock},
		func(ctx context.Context, rec *probe.Recorder) error {
			runner.Observers = append(runner.Observers, rec)
			var err error
			st, err = runner.Run(ctx, cp.Plan)
			return err
		})
	defer stop()
	if hr.Err != nil {
		return st, hr.Err
	}
	res, err := pr.Result(context.WithoutCancel(ctx), 15*time.Second)
	if err != nil {
		return st, err
	}
	run := report.NewRun("controlplane-migration", "controlplane-migration", hr.Summary)
	run.Checks = res.Checks()
	run.Metrics = map[string]float64{"dns_ttl_s": cp.Stats.DNSTTL.Seconds(), "drain_s": cp.Stats.Drain.Seconds(),
		"wall_ms": float64(hr.Wall) / float64(time.Millisecond)}
	rep := report.New(run)
	if err := rep.WriteText(o.Out); err != nil {
		return st, err
	}
	return st, session.WriteReportFiles(rep, o.JSON, o.SVG)
}
