package controlplane

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/handover-dev/handover/internal/proc"
)

// Process runs each apiserver as a kube-apiserver process (proc.Dir under
// BaseDir: <name>.pid, <name>.log, <name>/certs), detached so it outlives
// a killed run and is adopted by the next.
type Process struct {
	Binary    string // path of kube-apiserver ("" = from PATH)
	BaseDir   string // required
	ExtraArgs []string
}

// Kind returns "process".
func (p *Process) Kind() string { return "process" }

func (p *Process) binary() string {
	if p.Binary == "" {
		return "kube-apiserver"
	}
	return p.Binary
}

var kubeVersionRE = regexp.MustCompile(`Kubernetes v([0-9]+\.[0-9]+\.[0-9]+\S*)`)

// Version runs `kube-apiserver --version` ("Kubernetes v1.35.4").
func (p *Process) Version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, p.binary(), "--version").Output() //nolint:gosec // G204: the operator chose the binary
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", p.binary(), err)
	}
	m := kubeVersionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version: no \"Kubernetes v\" in %q", p.binary(), out)
	}
	return string(m[1]), nil
}

func (p *Process) dir() proc.Dir { return proc.Dir{Base: p.BaseDir} }

func (p *Process) certDir(name string) string {
	return filepath.Clean(filepath.Join(p.BaseDir, name, "certs"))
}

// Start launches the apiserver unless it runs (pid file or orphan with the
// same --cert-dir). It returns after 1 s without an early exit; readiness
// is the plan's gate.
func (p *Process) Start(ctx context.Context, spec APIServerSpec) error {
	if p.BaseDir == "" {
		return fmt.Errorf("%w: Process.BaseDir is empty", ErrInvalidConfig)
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	cd := p.certDir(spec.Name)
	args := append(spec.Flags(cd), p.ExtraArgs...)
	if _, _, err := p.dir().Start(ctx, spec.Name, p.binary(), args, "--cert-dir="+cd); err != nil {
		return fmt.Errorf("start kube-apiserver %q: %w", spec.Name, err)
	}
	return nil
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after spec.StopGrace).
func (p *Process) Stop(ctx context.Context, spec APIServerSpec) error {
	return p.dir().Stop(ctx, spec.Name, spec.StopGrace(), "--cert-dir="+p.certDir(spec.Name))
}

// Running reports whether spec's process is alive.
func (p *Process) Running(spec APIServerSpec) bool {
	_, ok := p.dir().Alive(spec.Name, "--cert-dir="+p.certDir(spec.Name))
	return ok
}

// Kill sends SIGKILL to spec's process (fault injection for tests and the
// demo's baselines).
func (p *Process) Kill(spec APIServerSpec) {
	if h, ok := p.dir().Alive(spec.Name, "--cert-dir="+p.certDir(spec.Name)); ok {
		proc.Signal(h, syscall.SIGKILL)
	}
}
