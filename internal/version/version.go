// Package version holds build information set at link time:
//
//	go build -ldflags "-X github.com/handover-dev/handover/internal/version.Version=v0.1.0 \
//	  -X github.com/handover-dev/handover/internal/version.Commit=$(git rev-parse --short HEAD)"
//
// Unset values fall back to the module build info embedded by the Go toolchain.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X; see the package doc.
var (
	Version = ""
	Commit  = ""
)

// Info is what `handover version` prints.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// Get returns the build information, never empty fields: unknown values read
// "devel" (version) and "unknown" (commit).
func Get() Info {
	info := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && info.Commit == "" {
				info.Commit = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}
