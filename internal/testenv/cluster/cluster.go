// Package cluster runs a kubelet-less Kubernetes cluster as real processes on
// loopback: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok (fake nodes that turn Ready and run pods in name only). It backs the
// e2e tests (via internal/testenv) and `handover sandbox`.
//
// Binaries come from hack/k8s-binaries.sh (see DefaultBinDir); certificates
// are generated fresh per cluster by package pki; every port is a free
// loopback port; every process leads its own process group and is recorded
// with its PID in Dir/state.json, so Stop (or StopDir from another process)
// ends all of them.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/testenv/pki"
)

// Options configure Start.
type Options struct {
	// BinDir holds the binaries and stages.yaml (RequiredFiles). Required.
	BinDir string
	// Dir is the cluster's state directory: pki/, etcd/ (data), logs/,
	// kubeconfigs and state.json. Required; created if missing; must not hold
	// a state.json of a running cluster.
	Dir string
	// Nodes is the number of kwok nodes, named kwok-node-0..N-1. Default 1.
	Nodes int
	// Detach starts the processes in their own sessions so they outlive the
	// calling process (handover sandbox). Without it they get SIGKILL when
	// the caller dies.
	Detach bool
	// Timeout bounds the whole start, readiness included. Default 2 minutes.
	Timeout time.Duration
	// Progress, if set, receives one line per milestone ("etcd ready").
	Progress func(msg string)
	// Clock paces polling and stamps certificates. Default clock.RealClock.
	Clock clock.Clock
}

// Cluster is a running cluster. Stop it with Stop.
type Cluster struct {
	// Dir is Options.Dir.
	Dir string
	// Kubeconfig is the admin (system:masters) kubeconfig path.
	Kubeconfig string
	// RESTConfig is the admin client configuration (QPS 100, burst 200).
	RESTConfig *rest.Config
	// Files are the generated certificates; EtcdClient at EtcdCA reaches etcd.
	Files pki.Files
	// State is what Dir/state.json holds.
	State State
	// Nodes are the kwok node names.
	Nodes []string

	clock clock.Clock
}

// maxAttempts bounds restarts after a port was taken between reservation
// and bind.
const maxAttempts = 3

// Start generates a PKI, starts the five components in order and waits until
// each is ready, the kwok nodes are Ready and schedulable and the default
// ServiceAccount exists. On error every process it started is stopped (Dir
// and its logs stay for inspection) and the error names the component, with
// its last log lines when it exited. Bad options yield an error wrapping
// ErrBadOptions or ErrBinariesMissing before anything starts.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if err := prepareDir(opts.Dir); err != nil {
		return nil, err
	}
	files, err := pki.Generate(filepath.Join(opts.Dir, "pki"), opts.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("generate cluster pki: %w", err)
	}
	for attempt := 1; ; attempt++ {
		c, err := startOnce(ctx, opts, files)
		if err == nil {
			return c, nil
		}
		if attempt == maxAttempts || !errors.Is(err, errPortTaken) {
			return nil, err
		}
		opts.progress(fmt.Sprintf("a port was taken, retrying with new ports (%v)", err))
		if err := os.RemoveAll(filepath.Join(opts.Dir, "etcd")); err != nil {
			return nil, fmt.Errorf("reset etcd data dir: %w", err)
		}
	}
}

func (o Options) withDefaults() (Options, error) {
	if o.BinDir == "" {
		return o, fmt.Errorf("%w: BinDir is empty", ErrBadOptions)
	}
	if o.Dir == "" {
		return o, fmt.Errorf("%w: Dir is empty", ErrBadOptions)
	}
	if o.Nodes < 0 {
		return o, fmt.Errorf("%w: Nodes is %d, want >= 0", ErrBadOptions, o.Nodes)
	}
	if err := CheckBinaries(o.BinDir, RequiredFiles()...); err != nil {
		return o, err
	}
	var err error
	if o.BinDir, err = filepath.Abs(o.BinDir); err != nil {
		return o, fmt.Errorf("%w: BinDir: %w", ErrBadOptions, err)
	}
	if o.Dir, err = filepath.Abs(o.Dir); err != nil {
		return o, fmt.Errorf("%w: Dir: %w", ErrBadOptions, err)
	}
	if o.Nodes == 0 {
		o.Nodes = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o, nil
}

func (o Options) progress(msg string) {
	if o.Progress != nil {
		o.Progress(msg)
	}
}

// prepareDir creates dir (0700) and refuses one whose state.json records a
// running process.
func prepareDir(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return fmt.Errorf("create cluster dir: %w", err)
	}
	if s, err := ReadState(dir); err == nil && s.AnyRunning() {
		return fmt.Errorf("%w: Dir %s holds a running cluster", ErrBadOptions, dir)
	}
	return nil
}

func startOnce(ctx context.Context, opts Options, files pki.Files) (c *Cluster, err error) {
	pp, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	l := layout{BinDir: opts.BinDir, Dir: opts.Dir, Files: files, Ports: ports{
		EtcdClient: pp[0], EtcdPeer: pp[1], APIServer: pp[2], ControllerManager: pp[3], Scheduler: pp[4], Kwok: pp[5],
	}}
	state := State{Kubeconfig: l.kubeconfig("admin"), APIServerURL: l.apiserverURL(), EtcdURL: l.etcdURL()}
	if err := writeKubeconfigs(l); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if stopErr := StopProcesses(stopCtx, opts.Clock, state.Processes); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
			_ = writeState(opts.Dir, state)
		}
	}()
	restCfg, err := clientcmd.BuildConfigFromFlags("", state.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load admin kubeconfig: %w", err)
	}
	restCfg.QPS, restCfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	etcdHTTP, err := httpsClient(files.EtcdCA.Cert, files.EtcdClient)
	if err != nil {
		return nil, err
	}
	compHTTP, err := httpsClient(files.CA.Cert, pki.Pair{})
	if err != nil {
		return nil, err
	}
	begin := opts.Clock.Now()
	comps := l.components()
	started := make([]Process, len(comps))
	for i, comp := range comps {
		p, err := startProcess(comp.name, filepath.Join(l.BinDir, comp.name), comp.args, l.path("logs", comp.name+".log"), opts.Detach)
		if err != nil {
			return nil, err
		}
		state.Processes = append(state.Processes, p)
		started[i] = p
		if err := writeState(opts.Dir, state); err != nil {
			return nil, err
		}
		// kube-controller-manager, kube-scheduler and kwok start together
		// once the apiserver is ready; their health is checked below.
		switch comp.name {
		case BinEtcd:
			err = poll(ctx, opts.Clock, &started[i], "etcd health", httpOK(etcdHTTP, comp.health, `"health":"true"`))
		case BinKubeAPIServer:
			err = poll(ctx, opts.Clock, &started[i], "kube-apiserver /readyz", apiserverReady(cs))
		default:
			continue
		}
		if err != nil {
			return nil, portTaken(err, p)
		}
		opts.progress(fmt.Sprintf("%s ready after %s", comp.name, since(opts.Clock, begin)))
	}
	for i, comp := range comps {
		if comp.name == BinEtcd || comp.name == BinKubeAPIServer {
			continue
		}
		if err := poll(ctx, opts.Clock, &started[i], comp.name+" "+comp.health, httpOK(compHTTP, comp.health, "ok")); err != nil {
			return nil, portTaken(err, started[i])
		}
		opts.progress(fmt.Sprintf("%s ready after %s", comp.name, since(opts.Clock, begin)))
	}
	c = &Cluster{Dir: opts.Dir, Kubeconfig: state.Kubeconfig, RESTConfig: restCfg, Files: files, clock: opts.Clock}
	for i := range opts.Nodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		if err := createNode(ctx, cs, name); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, name)
	}
	for _, name := range c.Nodes {
		if err := poll(ctx, opts.Clock, &started[len(started)-1], "node "+name+" Ready", nodeSchedulable(cs, name)); err != nil {
			return nil, err
		}
	}
	opts.progress(fmt.Sprintf("%d kwok node(s) Ready after %s", len(c.Nodes), since(opts.Clock, begin)))
	if err := poll(ctx, opts.Clock, &started[2], "default ServiceAccount", defaultServiceAccount(cs)); err != nil {
		return nil, err
	}
	state.Ready = true
	if err := writeState(opts.Dir, state); err != nil {
		return nil, err
	}
	c.State = state
	opts.progress(fmt.Sprintf("cluster ready after %s", since(opts.Clock, begin)))
	return c, nil
}

func since(clk clock.Clock, t time.Time) time.Duration {
	return clk.Since(t).Round(10 * time.Millisecond)
}

// portTaken wraps err with errPortTaken when p's log says a bind failed.
func portTaken(err error, p Process) error {
	data, readErr := os.ReadFile(p.Log)
	if readErr == nil && strings.Contains(string(data), "address already in use") {
		return fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return err
}

func writeKubeconfigs(l layout) error {
	for _, k := range []struct {
		name   string
		client pki.Pair
	}{
		{"admin", l.Files.Admin},
		{BinControllerManager, l.Files.ControllerManager},
		{BinScheduler, l.Files.Scheduler},
		{BinKwok, l.Files.Kwok},
	} {
		if err := writeKubeconfig(l.kubeconfig(k.name), l.apiserverURL(), l.Files.CA.Cert, k.client); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every process of c (see StopProcesses) and records the result
// in Dir/state.json. It returns an error wrapping ErrStillRunning if any
// process survived.
func (c *Cluster) Stop(ctx context.Context) error {
	err := StopProcesses(ctx, c.clock, c.State.Processes)
	c.State.Ready = false
	return errors.Join(err, writeState(c.Dir, c.State))
}

// StopDir stops the cluster recorded in dir/state.json, e.g. one started
// detached by another process. A missing state file yields an error
// satisfying errors.Is(err, os.ErrNotExist).
func StopDir(ctx context.Context, clk clock.Clock, dir string) (State, error) {
	s, err := ReadState(dir)
	if err != nil {
		return State{}, err
	}
	err = StopProcesses(ctx, clk, s.Processes)
	s.Ready = false
	return s, errors.Join(err, writeState(dir, s))
}

// LogTails returns the last n lines of every component log in dir/logs,
// keyed by component name (empty when there are none), for printing when a
// test fails. Logs never contain key material: keys reach the components as
// file paths only.
func LogTails(dir string, n int) map[string]string {
	out := map[string]string{}
	paths, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, p := range paths {
		out[strings.TrimSuffix(filepath.Base(p), ".log")] = tail(p, n)
	}
	return out
}
