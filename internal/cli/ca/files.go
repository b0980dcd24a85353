package ca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"k8s.io/utils/clock"
)

// source names an input in errors: `--active "a.pem"` or `file "a.pem"`.
func source(flag, path string) string {
	if flag == "" {
		return fmt.Sprintf("file %q", path)
	}
	return fmt.Sprintf("%s %q", flag, path)
}

// readInput reads path, naming it in the error.
func readInput(flag, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%s: path is empty", flag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", source(flag, path), err)
	}
	return b, nil
}

// resolveNow returns the time given with --now (RFC 3339), or clk's now.
func resolveNow(flagValue string, clk clock.PassiveClock) (time.Time, error) {
	if flagValue == "" {
		return clk.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, flagValue)
	if err != nil {
		return time.Time{}, fmt.Errorf("flag --now: %q is not an RFC 3339 time (e.g. 2026-01-01T00:00:00Z)", flagValue)
	}
	return t, nil
}

// output is one file to write.
type output struct {
	flag, path string
	data       []byte
	perm       fs.FileMode
}

// writeOutputs checks every output first (path set, distinct, not existing
// unless force) so bad input writes nothing, then writes each atomically:
// temp file in the same directory (created 0600), fsync, chmod, rename.
func writeOutputs(force bool, outs ...output) error {
	seen := map[string]string{}
	for _, o := range outs {
		if o.path == "" {
			return fmt.Errorf("%s is required", o.flag)
		}
		abs, err := filepath.Abs(o.path)
		if err != nil {
			return fmt.Errorf("%s: %w", source(o.flag, o.path), err)
		}
		if other, ok := seen[abs]; ok {
			return fmt.Errorf("%s: same file as %s", source(o.flag, o.path), other)
		}
		seen[abs] = o.flag
		if _, err := os.Lstat(o.path); err == nil && !force {
			return fmt.Errorf("%s: file exists (use --force to overwrite)", source(o.flag, o.path))
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", source(o.flag, o.path), err)
		}
	}
	for _, o := range outs {
		if err := writeAtomic(o.path, o.data, o.perm); err != nil {
			return fmt.Errorf("%s: write: %w", source(o.flag, o.path), err)
		}
	}
	return nil
}

func writeAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
