package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KubernetesVersion is the version hack/k8s-binaries.sh builds.
const KubernetesVersion = "v1.35.4"

// Binary names expected in the binaries directory (see hack/k8s-binaries.sh).
const (
	BinEtcd              = "etcd"
	BinKubeAPIServer     = "kube-apiserver"
	BinControllerManager = "kube-controller-manager"
	BinScheduler         = "kube-scheduler"
	BinKubectl           = "kubectl"
	BinKwok              = "kwok"
	// KwokStages is the kwok Stage objects file passed as kwok --config.
	KwokStages = "stages.yaml"
)

// RequiredFiles returns every file Start needs in the binaries directory.
func RequiredFiles() []string {
	return []string{BinEtcd, BinKubeAPIServer, BinControllerManager, BinScheduler, BinKwok, KwokStages}
}

// BinDirEnv names the environment variable that overrides the binaries
// directory (the Makefile exports it to the tests).
const BinDirEnv = "HANDOVER_K8S_BIN"

// DefaultBinDir returns where hack/k8s-binaries.sh puts the binaries, given an
// environment lookup (os.Getenv in production): $HANDOVER_K8S_BIN if set, else
// $XDG_CACHE_HOME/handover/k8s/v1.35.4, else $HOME/.cache/handover/k8s/v1.35.4.
// It returns "" when none of the three variables is set.
func DefaultBinDir(getenv func(string) string) string {
	if d := getenv(BinDirEnv); d != "" {
		return d
	}
	cache := getenv("XDG_CACHE_HOME")
	if cache == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "handover", "k8s", KubernetesVersion)
}

// CheckBinaries returns nil when every name exists in dir as a regular file
// (executable unless it ends in .yaml), else an error wrapping
// ErrBinariesMissing that lists the missing names and says how to build them.
func CheckBinaries(dir string, names ...string) error {
	if dir == "" {
		return fmt.Errorf("%w: no binaries directory (set %s or HOME); run `make k8s-binaries`", ErrBinariesMissing, BinDirEnv)
	}
	var missing []string
	for _, n := range names {
		st, err := os.Stat(filepath.Join(dir, n))
		switch {
		case err != nil, !st.Mode().IsRegular():
			missing = append(missing, n)
		case !strings.HasSuffix(n, ".yaml") && st.Mode().Perm()&0o111 == 0:
			missing = append(missing, n+" (not executable)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w in %s: %s; run `make k8s-binaries`", ErrBinariesMissing, dir, strings.Join(missing, ", "))
	}
	return nil
}
