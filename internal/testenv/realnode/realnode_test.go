package realnode

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultBinDir(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"override", map[string]string{BinDirEnv: "/x", "HOME": "/h"}, "/x"},
		{"xdg cache", map[string]string{"XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/c/handover/node/v1.35.4"},
		{"home", map[string]string{"HOME": "/h"}, "/h/.cache/handover/node/v1.35.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := DefaultBinDir(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Fatalf("DefaultBinDir = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFindRepo(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "hack"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, Script), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "test", "e2e")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{root, deep} {
		if got, err := FindRepo(start); err != nil || got != root {
			t.Errorf("FindRepo(%s) = %q, %v; want %q", start, got, err, root)
		}
	}
	if _, err := FindRepo(t.TempDir()); !errors.Is(err, ErrNoScript) {
		t.Errorf("FindRepo outside a repository: %v, want ErrNoScript", err)
	}
}

// The script of this repository is found from this package's directory.
func TestFindRepoFromThisPackage(t *testing.T) {
	t.Parallel()
	repo, err := FindRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "go.mod")); err != nil {
		t.Fatalf("FindRepo(.) = %s without go.mod: %v", repo, err)
	}
}

func TestOpenWithoutNode(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of an empty dir: %v, want os.ErrNotExist", err)
	}
}

func TestUpRefusesMissingOptions(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		if _, err := Up(context.Background(), ".", Options{}, nil); !errors.Is(err, ErrNotRoot) {
			t.Fatalf("Up as non-root: %v, want ErrNotRoot", err)
		}
		return
	}
	dir := t.TempDir()
	if _, err := Up(context.Background(), ".", Options{Dir: dir}, nil); err == nil {
		t.Fatal("Up without ClusterDir and Images succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Up with bad options changed %s: %v", dir, entries)
	}
}
