package plan

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func sampleState() *State {
	return &State{
		Plan:        "rotate",
		Outcome:     OutcomeRolledBack,
		Reason:      `step "b": gate failed: x`,
		RollingBack: true,
		Steps: []StepState{
			{Name: "a", Phase: StepReverted, UpdatedAt: t0},
			{Name: "b", Phase: StepReverted, Reason: "gate failed: x", UpdatedAt: t0.Add(time.Second)},
		},
	}
}

func TestFileCheckpointRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	cp := NewFileCheckpoint(path)
	if cp.Path() != path {
		t.Errorf("Path() = %q, want %q", cp.Path(), path)
	}
	st, err := cp.Load(t.Context())
	if st != nil || err != nil {
		t.Fatalf("Load of a missing file = %+v, %v; want nil, nil", st, err)
	}
	// A temporary file left by a Save that was killed before its rename.
	if err := os.WriteFile(filepath.Join(dir, ".state.json.tmp-123"), []byte(`{"plan":`), 0o600); err != nil {
		t.Fatal(err)
	}
	want := sampleState()
	if err := cp.Save(t.Context(), want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := NewFileCheckpoint(path).Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v, want %+v", got, want)
	}
	// Overwrite with a newer state.
	want.Outcome, want.Reason = OutcomeSucceeded, ""
	if err := cp.Save(t.Context(), want); err != nil {
		t.Fatalf("second Save: %v", err)
	}
	if got, _ := cp.Load(t.Context()); got.Outcome != OutcomeSucceeded {
		t.Errorf("after overwrite Outcome = %q", got.Outcome)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %o, want 600", mode)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only state.json (no temp files left)", names)
	}
}

func TestFileCheckpointCorrupt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"torn", `{"plan":"rotate","steps":[{"name":"a"`},
		{"not json", "plan: rotate\n"},
		{"no plan", `{"steps":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := NewFileCheckpoint(path).Load(t.Context())
			if !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load = %+v, %v; want ErrCorruptCheckpoint naming %s", st, err, path)
			}
		})
	}
}

func TestFileCheckpointErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missingDir := filepath.Join(dir, "nope", "state.json")
	if err := NewFileCheckpoint(missingDir).Save(t.Context(), sampleState()); err == nil || !strings.Contains(err.Error(), missingDir) {
		t.Errorf("Save into a missing directory = %v, want an error naming %s", err, missingDir)
	}
	if err := NewFileCheckpoint(filepath.Join(dir, "s.json")).Save(t.Context(), nil); err == nil {
		t.Errorf("Save(nil) = nil, want an error")
	}
	// A directory where the file should be: Load cannot read it.
	if _, err := NewFileCheckpoint(dir).Load(t.Context()); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Load of a directory = %v, want an error naming it", err)
	}
	// A failed Save leaves the previous state intact.
	path := filepath.Join(dir, "keep.json")
	cp := NewFileCheckpoint(path)
	if err := cp.Save(t.Context(), sampleState()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) }) // so TempDir cleanup can remove it
	if os.Geteuid() != 0 {
		if err := cp.Save(t.Context(), &State{Plan: "other"}); err == nil {
			t.Errorf("Save into a read-only directory succeeded")
		}
	}
	if got, err := cp.Load(t.Context()); err != nil || got.Plan != "rotate" {
		t.Errorf("after a failed Save Load = %+v, %v; want the previous state", got, err)
	}
}

func TestFileCheckpointConcurrent(t *testing.T) {
	t.Parallel()
	cp := NewFileCheckpoint(filepath.Join(t.TempDir(), "state.json"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			st := sampleState()
			st.Reason = strings.Repeat("x", i*100)
			if err := cp.Save(t.Context(), st); err != nil {
				t.Errorf("Save: %v", err)
			}
			if _, err := cp.Load(t.Context()); err != nil {
				t.Errorf("Load: %v", err)
			}
		})
	}
	wg.Wait()
}

func TestMemoryCheckpointCopies(t *testing.T) {
	t.Parallel()
	var cp MemoryCheckpoint
	if st, err := cp.Load(t.Context()); st != nil || err != nil {
		t.Fatalf("empty Load = %+v, %v", st, err)
	}
	st := sampleState()
	_ = cp.Save(t.Context(), st)
	st.Steps[0].Phase = StepPending
	st.Plan = "mutated"
	got, _ := cp.Load(t.Context())
	if got.Plan != "rotate" || got.Steps[0].Phase != StepReverted {
		t.Errorf("Load = %+v: saved state shares memory with the caller's", got)
	}
	got.Steps[1].Name = "changed"
	again, _ := cp.Load(t.Context())
	if again.Steps[1].Name != "b" {
		t.Errorf("Load returned shared memory")
	}
}

func TestStateDoneSteps(t *testing.T) {
	t.Parallel()
	var none *State
	if got := none.DoneSteps(); got != 0 {
		t.Errorf("nil State: DoneSteps = %d, want 0", got)
	}
	s := &State{Steps: []StepState{{Phase: StepDone}, {Phase: StepPending}, {Phase: StepDone}, {Phase: StepReverted}}}
	if got := s.DoneSteps(); got != 2 {
		t.Errorf("DoneSteps = %d, want 2", got)
	}
}
