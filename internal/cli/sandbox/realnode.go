package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/handover-dev/handover/internal/testenv/realnode"
)

// The real node's directories inside --state-dir.
const (
	nodeDir       = "node"
	nodeImagesDir = "node-images"
)

// upRealNode builds (or takes --images) the node images and brings the real
// node up against the cluster in clusterDir; on error the cluster keeps
// running and the error says how to stop it.
func upRealNode(ctx context.Context, o *Options, clusterDir string, out io.Writer) error {
	fail := func(err error) error {
		return fmt.Errorf("sandbox up --real-node (the cluster is up; stop it with `handover sandbox down --state-dir %s`): %w", o.StateDir, err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	repo, err := realnode.FindRepo(wd)
	if err != nil {
		return fail(err)
	}
	logf := func(l string) { _, _ = fmt.Fprintf(out, "  %s\n", l) }
	images := o.Images
	if images == "" {
		images = filepath.Join(o.StateDir, nodeImagesDir)
		_, _ = fmt.Fprintf(out, "building the node images into %s (1-5 min)\n", images)
		if err := realnode.BuildImages(ctx, repo, images, nil, logf); err != nil {
			return fail(err)
		}
	}
	_, err = realnode.Up(ctx, repo, realnode.Options{
		Dir: filepath.Join(o.StateDir, nodeDir), ClusterDir: clusterDir, Images: images,
		Env: []string{"K8S_BIN=" + o.BinDir},
	}, logf)
	if err != nil {
		return fail(err)
	}
	return nil
}

// downRealNode takes the real node down, if the sandbox has one, and checks
// the host is as before; a leftover fails down (state kept).
func downRealNode(ctx context.Context, o *Options, out io.Writer) error {
	n, err := realnode.Open(filepath.Join(o.StateDir, nodeDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	logf := func(l string) { _, _ = fmt.Fprintf(out, "  %s\n", l) }
	if err := errors.Join(n.Down(ctx, logf), n.Check(ctx, logf)); err != nil {
		return fmt.Errorf("sandbox down: real node (state kept in %s): %w", n.Dir(), err)
	}
	return nil
}
