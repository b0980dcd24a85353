package etcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// stateDir holds a migration's checkpoint (checkpoint.json, written by the
// plan engine) and migration.json: the source members as they were when the
// migration started, and the targets, so a rerun builds the same plan even
// after some sources were removed.
type stateDir string

type savedState struct {
	Sources []etcdmig.Member `json:"sources"`
	Targets []etcdmig.Target `json:"targets"`
	// MemberFlags are the etcd flags the targets run with (--member-flag
	// plus what was inherited from the sources when the migration started).
	MemberFlags []string `json:"memberFlags,omitempty"`
}

func (d stateDir) checkpointPath() string { return filepath.Join(string(d), "checkpoint.json") }
func (d stateDir) migrationPath() string  { return filepath.Join(string(d), "migration.json") }

// load returns nil, nil when no migration was started in d.
func (d stateDir) load() (*savedState, error) {
	b, err := os.ReadFile(d.migrationPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state dir: %s: %w", d.migrationPath(), err)
	}
	if len(s.Sources) == 0 {
		return nil, fmt.Errorf("state dir: %s: no source members recorded", d.migrationPath())
	}
	return &s, nil
}

// save writes migration.json atomically (temp file, fsync, rename).
func (d stateDir) save(s *savedState) error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.migrationPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("state dir: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("state dir: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return os.Rename(tmp, d.migrationPath())
}

// matches refuses a rerun with different targets than the saved migration.
func (s *savedState) matches(targets []etcdmig.Target) error {
	if !slices.Equal(s.Targets, targets) {
		return fmt.Errorf("state dir holds a migration to %v, not %v: rerun with the same --to flags to finish it or roll it back first", s.Targets, targets)
	}
	return nil
}

// endpoints returns extra followed by the client URLs of the recorded
// sources and targets, without duplicates.
func (s *savedState) endpoints(extra []string) []string {
	all := append([]string{}, extra...)
	for _, m := range s.Sources {
		all = append(all, m.ClientURLs...)
	}
	for _, t := range s.Targets {
		all = append(all, t.ClientURL)
	}
	slices.Sort(all)
	return slices.Compact(all)
}
