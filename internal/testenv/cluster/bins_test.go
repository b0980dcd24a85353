package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultBinDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"override wins", map[string]string{BinDirEnv: "/opt/k8s", "XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/opt/k8s"},
		{"xdg cache", map[string]string{"XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/c/handover/k8s/" + KubernetesVersion},
		{"home cache", map[string]string{"HOME": "/h"}, "/h/.cache/handover/k8s/" + KubernetesVersion},
		{"nothing set", map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := DefaultBinDir(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("DefaultBinDir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckBinaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "kwok"), []byte("#!/bin/sh\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "stages.yaml"), []byte("---\n"), 0o644))
	tests := []struct {
		name    string
		dir     string
		names   []string
		missing []string
	}{
		{"all present", dir, []string{"etcd", "stages.yaml"}, nil},
		{"absent binary", dir, []string{"etcd", "kube-apiserver"}, []string{"kube-apiserver"}},
		{"not executable", dir, []string{"kwok"}, []string{"kwok (not executable)"}},
		{"no dir", "", []string{"etcd"}, []string{"no binaries directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckBinaries(tt.dir, tt.names...)
			if tt.missing == nil {
				if err != nil {
					t.Fatalf("CheckBinaries: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBinariesMissing) {
				t.Fatalf("CheckBinaries = %v, want ErrBinariesMissing", err)
			}
			for _, m := range append(tt.missing, "make k8s-binaries") {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}
