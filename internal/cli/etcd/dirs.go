package etcd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// absDirs returns stateDir and dataDir made absolute (filepath.Abs; "" stays
// ""), so that etcd never gets a path relative to wherever handover ran.
// It errors, naming the flag, when a path cannot be resolved or when
// dataDir is inside stateDir: the state dir holds only progress and may be
// deleted to start anew, so member data must never live in it.
func absDirs(stateDir, dataDir string) (string, string, error) {
	st, err := filepath.Abs(stateDir)
	if err != nil {
		return "", "", fmt.Errorf("flag --state-dir %q: %w", stateDir, err)
	}
	if dataDir == "" {
		return st, "", nil
	}
	dd, err := filepath.Abs(dataDir)
	if err != nil {
		return "", "", fmt.Errorf("flag --data-dir %q: %w", dataDir, err)
	}
	if within(dd, st) {
		return "", "", fmt.Errorf("flag --data-dir %s: is inside --state-dir %s; member data must live outside the state dir (the state dir may be deleted, the data must not)", dd, st)
	}
	return st, dd, nil
}

// within reports whether path is dir or below it (both absolute, cleaned).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// leftovers refuses a new migration (no migration recorded in stateDir)
// whose targets already run as processes of p or already have data in p's
// base dir: what a migration whose state dir was deleted or moved leaves
// behind. Starting anew would race those members for their ports and, on a
// rollback, delete their data. It returns nil when there is nothing left
// over; the error says what to do.
func leftovers(p *etcdmig.Process, stateDir string, targets []etcdmig.Target) error {
	var found []string
	for _, t := range targets {
		dir := filepath.Join(p.BaseDir, t.Name)
		if pid, ok := p.Running(t.Name); ok {
			found = append(found, fmt.Sprintf("member %q is running (pid %d, data in %s)", t.Name, pid, dir))
			continue
		}
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			found = append(found, fmt.Sprintf("member %q has data in %s (not running)", t.Name, dir))
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			found = append(found, fmt.Sprintf("member %q: cannot read %s: %v", t.Name, dir, err))
		}
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("%w: --state-dir %s records no migration, but a migration started these members before:\n  - %s\n"+
		"Nothing was changed. Its state dir was deleted or moved. If that migration finished, the cluster already runs on "+
		"these members (etcdctl member list); if it did not, put its state dir back and rerun the same command to resume "+
		"or roll back. To migrate again, use other target names or another --data-dir. handover never deletes this data by itself",
		ErrLeftoverMembers, stateDir, strings.Join(found, "\n  - "))
}
