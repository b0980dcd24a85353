package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// LinkedPackages returns the import paths `go list -deps .` prints for the
// package in the current directory: what its binary links. It fails t when
// go list fails or the list lacks want (a package the binary must link, so
// a test on an empty or wrong list cannot pass).
func LinkedPackages(t testing.TB, want string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		if d == want {
			return deps
		}
	}
	t.Fatalf("go list -deps does not list %s (%d packages)", want, len(deps))
	return nil
}
