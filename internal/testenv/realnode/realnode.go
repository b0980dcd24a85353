// Package realnode joins one real kubelet node (containerd + runc + the CNI
// bridge, hack/realnode.sh) to a cluster of package cluster, and takes it
// down again leaving the host as it found it. It backs
// testenv.ClusterOptions.RealNode and `handover sandbox up --real-node`.
//
// The node is named NodeName, carries the label Label=true (pods select it
// with NodeSelector), has InternalIP 198.18.0.1 and gives pods addresses in
// 198.18.0.0/24 on the bridge handover0 (RFC 2544, never routed). Images are
// imported from OCI archives (no registry): ImageHandover (the handover
// binary; `handover tls-server` is the hot-reload consumer), ImageNginx
// (nginx from Debian) and the pause image; pods use imagePullPolicy Never.
package realnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Names the node and its images are known by.
const (
	NodeName      = "handover-node"
	Label         = "handover.dev/real-node"
	ImageHandover = "ghcr.io/handover-dev/handover:0.1.0"
	ImageNginx    = "handover.local/nginx:debian12"
	// SyncFrequency is the kubelet syncFrequency the node runs with unless
	// Options.SyncFrequency says otherwise (the Kubernetes default is 1m):
	// a changed Secret reaches a running pod's volume within about this.
	SyncFrequency = "10s"
	// Script is the host script, relative to the repository root.
	Script = "hack/realnode.sh"
)

// ErrNotRoot is returned when the process is not root: containerd, the
// kubelet, cgroups and iptables need it.
var ErrNotRoot = errors.New("a real node needs root")

// ErrNoScript is returned when hack/realnode.sh is not found above the
// working directory.
var ErrNoScript = errors.New("hack/realnode.sh not found (run from the handover repository)")

// Options configure Up.
type Options struct {
	// Dir is the node's state directory (containerd root/state, kubelet root,
	// logs, PID files, the recorded host state). Required.
	Dir string
	// ClusterDir is the cluster's directory (state.json, pki/ca.{crt,key}).
	ClusterDir string
	// Images is a directory of OCI archives to import (BuildImages). Required.
	Images string
	// SyncFrequency overrides SyncFrequency ("" keeps it), e.g. "1m".
	SyncFrequency string
	// Env adds environment variables for the script (K8S_BIN, NODE_BIN).
	Env []string
}

// FindRepo returns the nearest directory at or above start holding Script.
func FindRepo(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, Script)); err == nil && st.Mode().IsRegular() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: searched from %s", ErrNoScript, start)
		}
		dir = parent
	}
}

// Node is a running real node; Down takes it away.
type Node struct {
	repo string
	opts Options
}

// Up runs `hack/realnode.sh up` and returns once the node is Ready. On error
// the node is taken down again (Down's error joined). Output goes to log.
func Up(ctx context.Context, repo string, opts Options, log func(string)) (*Node, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if opts.Dir == "" || opts.ClusterDir == "" || opts.Images == "" {
		return nil, fmt.Errorf("realnode: Dir, ClusterDir and Images are required (got %q, %q, %q)", opts.Dir, opts.ClusterDir, opts.Images)
	}
	n := &Node{repo: repo, opts: opts}
	if opts.SyncFrequency == "" {
		n.opts.SyncFrequency = SyncFrequency
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("real node dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, repoFile), []byte(repo+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("real node dir: %w", err)
	}
	if err := n.run(ctx, log, "up", opts.Dir, opts.ClusterDir); err != nil {
		return nil, errors.Join(err, n.Down(context.WithoutCancel(ctx), log))
	}
	return n, nil
}

// Down runs `hack/realnode.sh down`: every node process stopped by PID,
// containers, mounts, network namespaces, the bridge, cgroups, iptables
// chains and fixed paths removed, sysctls restored.
func (n *Node) Down(ctx context.Context, log func(string)) error {
	return n.run(ctx, log, "down", n.opts.Dir)
}

// Check runs `hack/realnode.sh check`: an error lists what differs from the
// host as recorded before Up (process, mount, link, iptables chain, sysctl,
// cgroup, path).
func (n *Node) Check(ctx context.Context, log func(string)) error {
	return n.run(ctx, log, "check", n.opts.Dir)
}

// Dir is the node's state directory.
func (n *Node) Dir() string { return n.opts.Dir }

// BuildImages runs `hack/realnode.sh images out`: handover (static, empty
// base), pause and nginx archives.
func BuildImages(ctx context.Context, repo, out string, env []string, log func(string)) error {
	n := &Node{repo: repo, opts: Options{Env: env}}
	return n.run(ctx, log, "images", out)
}

func (n *Node) run(ctx context.Context, log func(string), args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(n.repo, Script), args...) //nolint:gosec // G204: the repository's own script; args are subcommands and paths of this package
	cmd.Dir = n.repo
	cmd.Env = append(os.Environ(), n.opts.Env...)
	if n.opts.Images != "" {
		cmd.Env = append(cmd.Env, "IMAGES="+n.opts.Images)
	}
	if n.opts.SyncFrequency != "" {
		cmd.Env = append(cmd.Env, "SYNC_FREQUENCY="+n.opts.SyncFrequency)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if log != nil {
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l != "" {
				log(l)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", Script, args[0], err, lastLines(out.String(), 30))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BinDirEnv overrides where the kubelet and pause binaries are
// (hack/node-binaries.sh's HANDOVER_NODE_BIN).
const BinDirEnv = "HANDOVER_NODE_BIN"

// DefaultBinDir returns $HANDOVER_NODE_BIN, else
// $XDG_CACHE_HOME/handover/node/v1.35.4, else $HOME/.cache/handover/node/v1.35.4.
func DefaultBinDir(getenv func(string) string) string {
	if d := getenv(BinDirEnv); d != "" {
		return d
	}
	cache := getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(getenv("HOME"), ".cache")
	}
	return filepath.Join(cache, "handover", "node", "v1.35.4")
}

// repoFile records, in the node's directory, the repository whose script
// brought the node up, so that Open can take it down from anywhere.
const repoFile = "repo"

// Open returns the node recorded in dir by an earlier Up (possibly another
// process), or an error wrapping os.ErrNotExist when dir holds none.
func Open(dir string) (*Node, error) {
	data, err := os.ReadFile(filepath.Join(dir, repoFile))
	if err != nil {
		return nil, fmt.Errorf("real node in %s: %w", dir, err)
	}
	return &Node{repo: strings.TrimSpace(string(data)), opts: Options{Dir: dir}}, nil
}
