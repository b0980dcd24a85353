package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// FileCheckpoint stores a State as indented JSON in one file (mode 0600).
//
// Save is atomic: it writes a temporary file in the same directory, fsyncs
// it, renames it over the path (rename(2) is atomic within a file system)
// and fsyncs the directory so the rename itself survives a power loss.
// After a crash Load sees either the old or the new State, never a torn one.
// Save also removes temporary files a killed Save left behind. It is safe
// for concurrent use within one process; two processes must not share a path.
type FileCheckpoint struct {
	path string
	mu   sync.Mutex
}

// NewFileCheckpoint returns a checkpoint stored at path. Nothing is read or
// created until Load or Save; the directory must exist when Save runs.
func NewFileCheckpoint(path string) *FileCheckpoint {
	return &FileCheckpoint{path: path}
}

// Path returns the file the checkpoint is stored in.
func (f *FileCheckpoint) Path() string { return f.path }

// Load reads the State. A missing file gives (nil, nil). An unreadable file
// gives an error naming the path; a file that is not a State (empty, not
// JSON, no plan name) gives an error wrapping ErrCorruptCheckpoint that names
// the path.
func (f *FileCheckpoint) Load(context.Context) (*State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", f.path, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorruptCheckpoint, f.path, err)
	}
	if st.Plan == "" {
		return nil, fmt.Errorf("%w: %s: field plan is empty", ErrCorruptCheckpoint, f.path)
	}
	return &st, nil
}

// Save writes s atomically (see FileCheckpoint). On error the previous file
// is left as it was and no temporary file remains; the error names the path.
func (f *FileCheckpoint) Save(_ context.Context, s *State) error {
	if s == nil {
		return fmt.Errorf("save checkpoint %s: state is nil", f.path)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: encode: %w", f.path, err)
	}
	b = append(b, '\n')
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, base := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	// Temporary files left by a process killed in the middle of a Save.
	if stale, err := filepath.Glob(filepath.Join(dir, "."+base+".tmp-*")); err == nil {
		for _, s := range stale {
			_ = os.Remove(s)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", f.path, err)
	}
	tmpName := tmp.Name()
	if err := writeSync(tmp, b); err != nil {
		_ = os.Remove(tmpName)
		return fmt.Errorf("save checkpoint %s: %w", f.path, err)
	}
	if err := os.Rename(tmpName, f.path); err != nil {
		_ = os.Remove(tmpName)
		return fmt.Errorf("save checkpoint %s: %w", f.path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", f.path, err)
	}
	return nil
}

// writeSync writes b to f, fsyncs and closes it.
func writeSync(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
