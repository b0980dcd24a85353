package demo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/handover-dev/handover/internal/report"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/rotation/scenario"
)

const rotateLong = `Rotate the CA of a local mTLS fleet while its clients probe it, and show how
many handshakes failed: a reproduction of Envoy Gateway #4891 and its cure.

The fleet runs on 127.0.0.1: --servers servers and --clients clients, every
client opening a new TLS connection (full handshake, then one request) to
every server in turn, continuously. Every pod reads ca.crt, tls.crt and
tls.key from its own directory, which is updated like the kubelet updates a
mounted Secret (a new timestamped directory, the ..data symlink swapped
atomically) after a random delay of up to --propagation per pod. A fraction
--load-once of the servers read their certificates at start only (like Envoy
Gateway's Rate Limit) and run as replica sets of --replicas behind one address;
the others re-read them on every handshake.

Strategies (same fleet, same workload, same delays):
  atomic  the old certgen: replace the CA and every leaf at once, then restart
          the load-once servers
  bundle  Envoy Gateway #8534 + #8535: bundle [new, previous] and new leaves at
          once, then a rolling restart of the load-once servers
  staged  handover: a plan of gated steps. Publish [new, previous]; verify by a
          live handshake with every pod that it accepts a leaf of the new CA
          (rolling-restart load-once servers first); switch the leaves; verify
          every pod presents one; after a grace period drop the previous CA;
          verify. A gate that does not pass before the leaf switch rolls back.

A restarted replica mounts the current content of its files, like a new pod
mounts a Secret's current content. Probing goes on until the plan ended, at
least --handshakes attempts were made and two propagation delays plus one
replica startup have passed since the plan ended. Per strategy the table shows when the last handshake
failed (after the plan started) and whether the fleet converged (no failure
in the last propagation delay of probing); each plan's phases follow. The staged plan's
wall time is shown next to its floor: propagation × 3 trust changes + grace +
the rolling restart time; the difference is the cost of verifying.

Progress goes to stderr, the summary to stdout.`

const rotateExample = `  # the comparison table (20,000 handshakes per strategy: a minute or more each on 2 cores)
  handover demo rotate --compare

  # handover's strategy only, with the report and timeline
  handover demo rotate --strategy staged --json out/staged.json --svg out/staged.svg

  # a kubelet-like delay and a bigger fleet
  handover demo rotate --compare --propagation 10s --servers 12 --clients 12`

// rotateOptions are the flags of `handover demo rotate`.
type rotateOptions struct {
	strategy       string
	compare        bool
	servers        int
	clients        int
	loadOnce       float64
	clientLoadOnce float64
	replicas       int
	propagation    time.Duration
	grace          time.Duration
	startup        time.Duration
	handshakes     int64
	seed           uint64
	jsonPath       string
	svgPath        string
}

func newRotateCommand() *cobra.Command {
	o := &rotateOptions{}
	cmd := &cobra.Command{
		Use:     "rotate",
		Short:   "Rotate a CA on a local mTLS fleet and count failed handshakes",
		Long:    rotateLong,
		Example: rotateExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRotate(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.strategy, "strategy", string(rotation.StrategyStaged), "atomic, bundle or staged")
	fl.BoolVar(&o.compare, "compare", false, "run all three strategies back-to-back on fresh fleets and print one table")
	fl.IntVar(&o.servers, "servers", 8, "number of servers")
	fl.IntVar(&o.clients, "clients", 8, "number of clients (each probes every server)")
	fl.Float64Var(&o.loadOnce, "load-once", 0.25, "fraction of servers that load certificates at start only (0..1)")
	fl.Float64Var(&o.clientLoadOnce, "client-load-once", 0, "fraction of clients that load certificates at start only (0..1)")
	fl.IntVar(&o.replicas, "replicas", 2, "replicas of each load-once server (>= 2)")
	fl.DurationVar(&o.propagation, "propagation", 3*time.Second, "upper bound of the per-pod delay before a mount changes (kubelet: ~60-90s)")
	fl.DurationVar(&o.grace, "grace", time.Second, "staged: how long the previous CA stays after the leaf switch")
	fl.DurationVar(&o.startup, "startup", 250*time.Millisecond, "how long a restarted replica takes to become ready")
	fl.Int64Var(&o.handshakes, "handshakes", 20000, "minimum handshakes per strategy")
	fl.Uint64Var(&o.seed, "seed", 1, "seed of the propagation delays (same seed, same delays)")
	fl.StringVar(&o.jsonPath, "json", "", "write the report (schema handover.report/v1) to this file")
	fl.StringVar(&o.svgPath, "svg", "", "write the SVG timeline to this file")
	return cmd
}

// validate checks the flags before any fleet starts; errors name the flag.
func (o *rotateOptions) validate() error {
	switch {
	case o.servers < 1:
		return fmt.Errorf("--servers is %d, want >= 1", o.servers)
	case o.clients < 1:
		return fmt.Errorf("--clients is %d, want >= 1", o.clients)
	case o.loadOnce < 0 || o.loadOnce > 1:
		return fmt.Errorf("--load-once is %g, want 0..1", o.loadOnce)
	case o.clientLoadOnce < 0 || o.clientLoadOnce > 1:
		return fmt.Errorf("--client-load-once is %g, want 0..1", o.clientLoadOnce)
	case o.replicas < 2:
		return fmt.Errorf("--replicas is %d, want >= 2 (a rolling restart keeps one serving)", o.replicas)
	case o.propagation <= 0:
		return fmt.Errorf("--propagation is %s, want > 0", o.propagation)
	case o.grace < 0:
		return fmt.Errorf("--grace is %s, want >= 0", o.grace)
	case o.startup < 0:
		return fmt.Errorf("--startup is %s, want >= 0", o.startup)
	case o.handshakes < 1:
		return fmt.Errorf("--handshakes is %d, want >= 1", o.handshakes)
	}
	return nil
}

func (o *rotateOptions) strategies() ([]rotation.Strategy, error) {
	if o.compare {
		return rotation.Strategies(), nil
	}
	s, err := rotation.ParseStrategy(o.strategy)
	if err != nil {
		return nil, fmt.Errorf("--strategy: %w", err)
	}
	return []rotation.Strategy{s}, nil
}

func runRotate(ctx context.Context, o *rotateOptions, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	strategies, err := o.strategies()
	if err != nil {
		return err
	}
	var results []scenario.Result
	for _, s := range strategies {
		_, _ = fmt.Fprintf(stderr, "[%s] starting a fleet of %d servers and %d clients (propagation up to %s)\n",
			s, o.servers, o.clients, o.propagation)
		res, err := scenario.Run(ctx, scenario.Options{
			Strategy: s, Servers: o.servers, Clients: o.clients,
			LoadOnce: o.loadOnce, ClientLoadOnce: o.clientLoadOnce, Replicas: o.replicas,
			Propagation: o.propagation, Grace: o.grace, Startup: o.startup,
			Handshakes: o.handshakes, Seed: o.seed, Progress: stderr,
		})
		if err != nil {
			return fmt.Errorf("strategy %s: %w", s, err)
		}
		results = append(results, res)
	}
	if err := writeTable(stdout, results); err != nil {
		return err
	}
	for _, r := range results {
		if err := writePhases(stdout, r); err != nil {
			return err
		}
	}
	return writeReports(o, results, stdout)
}

// writeTable prints one row per strategy.
func writeTable(w io.Writer, results []scenario.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "STRATEGY\tOUTCOME\tHANDSHAKES\tFAILED\tFAILURE CLASSES\tLONGEST OUTAGE\tLAST FAILURE\tCONVERGED\tPLAN WALL TIME\tFLOOR")
	for _, r := range results {
		floor := "-"
		if r.Floor > 0 {
			floor = ms(r.Floor)
		}
		last, converged := "-", "yes"
		if r.Summary.Failures > 0 {
			last = "+" + ms(r.Convergence.LastFailure)
		}
		if !r.Convergence.Converged {
			converged = "no"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Strategy, r.Outcome,
			r.Summary.Requests, r.Summary.Failures, classes(r.Summary.FailureClasses),
			outage(r.Summary.LongestOutage, r.Summary.LongestOutageTarget), last, converged, ms(r.PlanWall), floor)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, _ = fmt.Fprintln(w, "LAST FAILURE: end of the last failed handshake after the plan started; CONVERGED: no failed handshake in the last propagation bound of probing")
	for _, r := range results {
		if r.Floor > 0 {
			_, _ = fmt.Fprintf(w, "%s: the plan took %s; its floor is %s (propagation × 3 trust changes + grace + %s of rolling restarts), so verifying cost %s\n",
				r.Strategy, ms(r.PlanWall), ms(r.Floor), ms(r.RestartTime), ms(r.PlanWall-r.Floor))
		}
	}
	return nil
}

// writePhases prints the plan and what the probes saw during each phase.
func writePhases(w io.Writer, r scenario.Result) error {
	_, _ = fmt.Fprintf(w, "\n[%s] %s\n", r.Strategy, r.Plan)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "PHASE\tDURATION\tHANDSHAKES\tFAILED\tFAILURE CLASSES\tLONGEST OUTAGE")
	for _, p := range r.Summary.Phases {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", p.Name, ms(p.End.Sub(p.Start)), p.Requests, p.Failures,
			classes(p.FailureClasses), outage(p.LongestOutage, p.LongestOutageTarget))
	}
	return tw.Flush()
}

func classes(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func outage(d time.Duration, target string) string {
	if d == 0 {
		return "0s"
	}
	return fmt.Sprintf("%s (%s)", ms(d), target)
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func writeReports(o *rotateOptions, results []scenario.Result, stdout io.Writer) error {
	if o.jsonPath == "" && o.svgPath == "" {
		return nil
	}
	runs := make([]report.Run, 0, len(results))
	for _, r := range results {
		runs = append(runs, r.ReportRun())
	}
	rep := report.New(runs...)
	if o.jsonPath != "" {
		if err := writeFile(o.jsonPath, func(w io.Writer) error { return report.WriteJSON(w, rep) }); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
		_, _ = fmt.Fprintf(stdout, "report: %s\n", o.jsonPath)
	}
	if o.svgPath != "" {
		if err := writeFile(o.svgPath, func(w io.Writer) error { return report.WriteSVG(w, rep) }); err != nil {
			return fmt.Errorf("--svg: %w", err)
		}
		_, _ = fmt.Fprintf(stdout, "timeline: %s\n", o.svgPath)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
