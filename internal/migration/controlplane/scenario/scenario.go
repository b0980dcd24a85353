// Package scenario runs one control-plane move on a fresh local two-site
// control plane (localcp) with the kube-apiserver probes and kubectl beside
// it, and turns what they saw into a report run. Three scenarios, measured
// by the same probes:
//
//   - "handover": the plan of package controlplane (drain 2·TTL+1, graceful
//     source stop, GOAWAY chance);
//   - "poc": Gardener's proof-of-concept order: the same etcd growth, then
//     switch DNS and stop the source apiserver at once (kube-apiserver's
//     default shutdown, no drain);
//   - "backup-restore": what Gardener does today: snapshot etcd, stop the
//     source, restore the snapshot on the target members, start the target
//     apiserver, switch DNS.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/endpointdns"
	"github.com/handover-dev/handover/internal/migration/controlplane"
	"github.com/handover-dev/handover/internal/migration/controlplane/localcp"
	"github.com/handover-dev/handover/internal/migration/etcd/session"
	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/probe"
	"github.com/handover-dev/handover/internal/probe/harness"
	"github.com/handover-dev/handover/internal/probe/kubeprobe"
	"github.com/handover-dev/handover/internal/report"
)

// Names of the scenarios.
const (
	Handover      = "handover"
	POC           = "poc"
	BackupRestore = "backup-restore"
)

// ErrInvalidOptions names a bad Options field.
var ErrInvalidOptions = errors.New("invalid scenario options")

// Options configure Run.
type Options struct {
	BinDir string // kube-apiserver and kubectl
	Dir    string // a fresh subdirectory per run is made under it ("" = temp)
	// TTL of the endpoint record (default 1 s).
	TTL time.Duration
	// ProbeRate is attempts/s of each probe kind (default 10).
	ProbeRate float64
	// KubectlEvery is the pause between kubectl runs (default 500 ms);
	// kubectl runs at most 400 times.
	KubectlEvery time.Duration
	// NoKubectl skips the kubectl loop.
	NoKubectl bool
	// TargetReadyTimeout bounds the target apiserver's gate (0 = plan default).
	TargetReadyTimeout time.Duration
	// BreakTarget points the target apiserver at an etcd URL nothing serves,
	// so it never gets Ready (the rollback test).
	BreakTarget bool
	// SiteLatency is added between the sites' etcd members (localcp).
	SiteLatency time.Duration
	// OnEndpoints is the plan's endpoint hook (controlplane.Config).
	OnEndpoints controlplane.EndpointHook
	Log         io.Writer   // phase log (nil = discard)
	Clock       clock.Clock // nil = real clock
}

// Outcome is one run's measurements.
type Outcome struct {
	Name    string
	State   *plan.State // nil for backup-restore
	Outcome string
	Reason  string
	Summary probe.Summary
	Probe   kubeprobe.Result
	Wall    time.Duration
	// KubectlRuns and KubectlErrors count the independent kubectl client.
	KubectlRuns, KubectlErrors int64
	KubectlExample             string
	// KubectlWrites and KubectlWriteErrors count `kubectl create
	// configmap` runs (a real client's writes).
	KubectlWrites, KubectlWriteErrors int64
	KubectlWriteExample               string
	Stats                             controlplane.Stats
	CatchUpMiBps                      float64
	// DNSFinal and Members are the world after the run (for tests).
	DNSFinal endpointdns.Entry
	Members  []string
}

// Run runs scenario name on a fresh control plane and stops it afterwards.
func Run(ctx context.Context, name string, o Options) (*Outcome, error) {
	switch name {
	case Handover, POC, BackupRestore:
	default:
		return nil, fmt.Errorf("%w: scenario %q: want %s, %s or %s", ErrInvalidOptions, name, Handover, POC, BackupRestore)
	}
	if o.TTL == 0 {
		o.TTL = time.Second
	}
	if o.ProbeRate == 0 {
		o.ProbeRate = 10
	}
	if o.KubectlEvery == 0 {
		o.KubectlEvery = 500 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	dir, err := os.MkdirTemp(o.Dir, "handover-cp-"+name+"-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	_, _ = fmt.Fprintf(o.Log, "[%s] starting the source site: 3 etcd members, kube-apiserver, DNS (TTL %s)\n", name, o.TTL)
	l, err := localcp.Start(ctx, localcp.Options{Dir: dir, BinDir: o.BinDir, TTL: o.TTL, Graceful: name == Handover,
		SiteLatency: o.SiteLatency, Clock: o.Clock})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if o.BreakTarget {
		l.Target.EtcdServers = []string{"http://127.0.0.1:1"}
	}
	res := l.Resolver()
	pr, err := kubeprobe.New(ctx, kubeprobe.Config{Host: l.Endpoint.Name, Port: l.Endpoint.Port,
		CAFile: l.Files.CA.Cert, CertFile: l.Files.User.Cert, KeyFile: l.Files.User.Key,
		Dial: res.DialContext, Clock: o.Clock})
	if err != nil {
		return nil, err
	}
	out := &Outcome{Name: name}
	var kube, kubeW kubectlLoop
	bg := []func(context.Context){pr.Watch}
	if !o.NoKubectl {
		px, err := endpointdns.ServeProxy(res)
		if err != nil {
			return nil, err
		}
		defer func() { _ = px.Close() }()
		kube = kubectlLoop{bin: filepath.Join(o.BinDir, "kubectl"), proxy: px.URL(), ns: pr.Namespace(),
			every: o.KubectlEvery, max: 400}
		if kube.kubeconfig, err = writeKubeconfig(dir, l); err != nil {
			return nil, err
		}
		kubeW = kubectlLoop{bin: kube.bin, proxy: kube.proxy, ns: kube.ns, kubeconfig: kube.kubeconfig,
			every: kube.every, max: kube.max, write: true}
		bg = append(bg, kube.run, kubeW.run)
	}
	runners := []*probe.Runner{
		{Probe: pr.Fresh(), Rate: o.ProbeRate, Concurrency: 2, Timeout: 10 * time.Second},
		{Probe: pr.Long(), Rate: o.ProbeRate, Concurrency: 2, Timeout: 10 * time.Second},
		{Probe: pr.Writer(), Rate: o.ProbeRate, Concurrency: 2, Timeout: 10 * time.Second},
	}
	var t harness.Transition
	cfg := l.Config()
	cfg.Name = name
	cfg.TargetReadyTimeout = o.TargetReadyTimeout
	cfg.Clock = o.Clock
	cfg.Target = l.Target
	cfg.OnEndpoints = o.OnEndpoints
	switch name {
	case Handover, POC:
		if name == POC {
			cfg.DrainWait = -1
		}
		// The apiservers run on this host: the hold listens on loopback.
		hold, err := controlplane.StartWriteHold("127.0.0.1:0", o.Clock)
		if err != nil {
			return nil, err
		}
		defer func() { _ = hold.Close() }()
		cfg.WriteHold = hold
		cp, err := controlplane.NewPlan(cfg)
		if err != nil {
			return nil, err
		}
		t = func(ctx context.Context, rec *probe.Recorder) error {
			runner := plan.Runner{Clock: o.Clock, RollbackOnCancel: true,
				Observers: []plan.Observer{rec, session.NewPhaseLog(prefixed(o.Log, name), o.Clock)}}
			st, err := runner.Run(ctx, cp.Plan)
			out.State = st
			if st != nil {
				out.Outcome, out.Reason = string(st.Outcome), st.Reason
			}
			out.Stats = *cp.Stats
			out.CatchUpMiBps = catchUpRate(cp)
			return err
		}
	case BackupRestore:
		t = func(ctx context.Context, rec *probe.Recorder) error {
			err := backupRestore(ctx, l, cfg, rec, prefixed(o.Log, name))
			out.Outcome = string(plan.OutcomeSucceeded)
			if err != nil {
				out.Outcome, out.Reason = string(plan.OutcomeFailed), err.Error()
			}
			return nil
		}
	}
	hr, stopBg := harness.Run(ctx, harness.Options{Probes: runners, Background: bg, Clock: o.Clock,
		Baseline: time.Second, Aftermath: 2 * time.Second}, t)
	defer stopBg()
	out.Summary, out.Wall = hr.Summary, hr.Wall
	if hr.Err != nil {
		return out, hr.Err
	}
	if out.Probe, err = pr.Result(context.WithoutCancel(ctx), 15*time.Second); err != nil {
		return out, err
	}
	stopBg()
	out.KubectlRuns, out.KubectlErrors = kube.runs.Load(), kube.errs.Load()
	out.KubectlWrites, out.KubectlWriteErrors = kubeW.runs.Load(), kubeW.errs.Load()
	if e := kube.example.Load(); e != nil {
		out.KubectlExample = *e
	}
	if e := kubeW.example.Load(); e != nil {
		out.KubectlWriteExample = *e
	}
	out.DNSFinal, _ = l.DNS.Get(ctx)
	if ms, err := l.Cluster.Members(ctx); err == nil {
		for _, m := range ms {
			out.Members = append(out.Members, m.Name)
		}
	}
	return out, nil
}

func catchUpRate(cp *controlplane.Plan) float64 {
	var bytes int64
	var secs float64
	for _, c := range cp.EtcdStats.CatchUps() {
		bytes += c.Bytes
		secs += c.Duration.Seconds()
	}
	if secs == 0 {
		return 0
	}
	return float64(bytes) / (1 << 20) / secs
}

// ReportRun converts an outcome into the report's run (kind
// "controlplane-migration"): the probe summary; checks
// missing_acknowledged_writes, watch_gaps (and acknowledged_writes,
// watch_resumes, watch_relists, kubectl_runs, kubectl_errors); for
// "handover" the metrics dns_ttl_s, drain_s, write_hold_ms, held_writes,
// catchup_mib_per_s, wall_ms.
func ReportRun(out *Outcome) report.Run {
	r := report.NewRun(out.Name, "controlplane-migration", out.Summary)
	r.Outcome = out.Outcome
	r.Checks = out.Probe.Checks()
	r.Checks["kubectl_runs"] = out.KubectlRuns
	r.Checks["kubectl_errors"] = out.KubectlErrors
	r.Checks["kubectl_writes"] = out.KubectlWrites
	r.Checks["kubectl_write_errors"] = out.KubectlWriteErrors
	for k, v := range map[string]string{"kubectl": out.KubectlExample, "kubectl-create": out.KubectlWriteExample} {
		if v == "" {
			continue
		}
		if r.FailureExamples == nil {
			r.FailureExamples = map[string]string{}
		}
		r.FailureExamples[k] = v
	}
	r.Metrics = map[string]float64{}
	if out.Name == Handover {
		r.Metrics["dns_ttl_s"] = out.Stats.DNSTTL.Seconds()
		r.Metrics["drain_s"] = out.Stats.Drain.Seconds()
		r.Metrics["write_hold_ms"] = float64(out.Stats.WriteHold) / float64(time.Millisecond)
		r.Metrics["held_writes"] = float64(out.Stats.HeldWrites)
		r.Metrics["catchup_mib_per_s"] = out.CatchUpMiBps
		r.Metrics["wall_ms"] = float64(out.Wall) / float64(time.Millisecond)
	}
	return r
}

// kubectlLoop runs kubectl against the endpoint name (through the
// resolving proxy) every `every`, at most max times.
type kubectlLoop struct {
	bin, kubeconfig, proxy, ns string
	// write makes each run a `kubectl create configmap` instead of a LIST.
	write      bool
	every      time.Duration
	max        int
	runs, errs atomic.Int64
	example    atomic.Pointer[string]
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

func prefixed(w io.Writer, name string) io.Writer {
	return prefixWriter{w: w, prefix: "[" + name + "] "}
}
