package fleet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/tlsloop"
)

// File names of a kubernetes.io/tls Secret with a CA bundle, as mounted.
const (
	FileCA   = tlsloop.FileCA
	FileCert = tlsloop.FileCert
	FileKey  = tlsloop.FileKey
)

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	tsDirLayout    = "..2006_01_02_15_04_05."
	readRetries    = 8
)

// Volume is one pod's certificate directory, written the way the kubelet
// writes a Secret volume (k8s.io/kubernetes pkg/volume/util/atomic_writer.go):
//
//	dir/..2026_11_20_22_14_07.123456789/{ca.crt,tls.crt,tls.key}   a generation
//	dir/..data -> ..2026_11_20_22_14_07.123456789                  swapped by rename(2)
//	dir/ca.crt -> ..data/ca.crt                                    user-visible links
//
// A Write creates a new timestamped directory, points a temporary symlink
// ..data_tmp at it and renames it over ..data, then removes the previous
// generation. Readers that resolve ..data once (Read) never see files of two
// generations. Safe for concurrent use; Writes are serialised.
type Volume struct {
	dir string
	clk clock.PassiveClock
	mu  sync.Mutex
}

// Snapshot is the content of one generation of a Volume (Generation: the
// timestamped directory ..data pointed to; Files: name to content). A
// *Volume is a tlsloop.Source.
type Snapshot = tlsloop.Snapshot

// NewVolume creates dir (and parents, mode 0700) and returns its Volume; clk
// stamps generation directory names. It returns an error if dir cannot be
// created.
func NewVolume(dir string, clk clock.PassiveClock) (*Volume, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create volume dir %s: %w", dir, err)
	}
	return &Volume{dir: dir, clk: clk}, nil
}

// Dir returns the volume's directory.
func (v *Volume) Dir() string { return v.dir }

// Write publishes payload (file name → content) as a new generation and
// returns once ..data points at it. Names must be non-empty, without "/" and
// not start with ".."; otherwise it returns ErrInvalidPayload and changes
// nothing. Files are written 0600.
func (v *Volume) Write(payload map[string][]byte) error {
	if len(payload) == 0 {
		return fmt.Errorf("%w: no files", ErrInvalidPayload)
	}
	for name := range payload {
		if name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, "..") {
			return fmt.Errorf("%w: file name %q", ErrInvalidPayload, name)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()

	old, err := os.Readlink(filepath.Join(v.dir, dataDirName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s link in %s: %w", dataDirName, v.dir, err)
	}
	tsDir, err := os.MkdirTemp(v.dir, v.clk.Now().UTC().Format(tsDirLayout))
	if err != nil {
		return fmt.Errorf("create generation dir in %s: %w", v.dir, err)
	}
	for name, content := range payload {
		if err := os.WriteFile(filepath.Join(tsDir, name), content, 0o600); err != nil {
			_ = os.RemoveAll(tsDir)
			return fmt.Errorf("write %s in %s: %w", name, v.dir, err)
		}
	}
	tmpLink := filepath.Join(v.dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		_ = os.RemoveAll(tsDir)
		return fmt.Errorf("link %s in %s: %w", newDataDirName, v.dir, err)
	}
	if err := os.Rename(tmpLink, filepath.Join(v.dir, dataDirName)); err != nil {
		_ = os.Remove(tmpLink)
		_ = os.RemoveAll(tsDir)
		return fmt.Errorf("swap %s in %s: %w", dataDirName, v.dir, err)
	}
	for name := range payload {
		visible := filepath.Join(v.dir, name)
		if _, err := os.Lstat(visible); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), visible); err != nil {
			return fmt.Errorf("link %s in %s: %w", name, v.dir, err)
		}
	}
	if old != "" && old != filepath.Base(tsDir) {
		if err := os.RemoveAll(filepath.Join(v.dir, old)); err != nil {
			return fmt.Errorf("remove old generation in %s: %w", v.dir, err)
		}
	}
	return nil
}

// Generation returns the directory ..data points to, or ErrNoData.
func (v *Volume) Generation() (string, error) {
	gen, err := os.Readlink(filepath.Join(v.dir, dataDirName))
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNoData
	}
	if err != nil {
		return "", fmt.Errorf("read %s link in %s: %w", dataDirName, v.dir, err)
	}
	return gen, nil
}

// Read returns every user-visible file of one generation. It resolves
// ..data, reads the files from that directory and resolves ..data again: a
// Write removes a generation only after swapping ..data away from it, so an
// unchanged link proves the directory was whole while it was read. Otherwise
// it starts over (up to a few times, then ErrTorn). It returns ErrNoData
// before the first Write.
func (v *Volume) Read() (Snapshot, error) {
	for range readRetries {
		gen, err := v.Generation()
		if err != nil {
			return Snapshot{}, err
		}
		snap, err := v.readGeneration(gen)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Snapshot{}, err
		}
		if err == nil {
			again, err := v.Generation()
			if err != nil {
				return Snapshot{}, err
			}
			if again == gen {
				return snap, nil
			}
		}
	}
	return Snapshot{}, fmt.Errorf("%w: %s", ErrTorn, v.dir)
}

func (v *Volume) readGeneration(gen string) (Snapshot, error) {
	entries, err := os.ReadDir(filepath.Join(v.dir, gen))
	if err != nil {
		return Snapshot{}, fmt.Errorf("list generation in %s: %w", v.dir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	files := make(map[string][]byte, len(names))
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(v.dir, gen, name))
		if err != nil {
			return Snapshot{}, fmt.Errorf("read %s in %s: %w", name, v.dir, err)
		}
		files[name] = b
	}
	return Snapshot{Generation: gen, Files: files}, nil
}
