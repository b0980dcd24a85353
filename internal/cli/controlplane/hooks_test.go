package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cpmig "github.com/handover-dev/handover/internal/migration/controlplane"
)

// --on-endpoints gets the change in its environment; a failing command's
// stderr becomes the step's reason, named by the flag.
func TestEndpointsHookCommand(t *testing.T) {
	t.Parallel()
	if endpointsHook(nil) != nil {
		t.Fatal("no command: want no hook")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	out := filepath.Join(dir, "seen")
	body := "#!/bin/sh\necho \"$HANDOVER_ENDPOINTS_KIND $HANDOVER_ENDPOINTS $HANDOVER_STEP $HANDOVER_REVERTED\" >> " + out +
		"\n[ \"$HANDOVER_ENDPOINTS_KIND\" = apiserver ] && { echo 'lb still on the source' >&2; exit 3; }\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	h := endpointsHook([]string{script})
	ctx := context.Background()
	if err := h(ctx, cpmig.EndpointChange{Step: "promote/t1", Kind: cpmig.EndpointsEtcd, Endpoints: []string{"http://a", "http://b"}}); err != nil {
		t.Fatalf("accepting hook: %v", err)
	}
	err := h(ctx, cpmig.EndpointChange{Step: "dns/switch", Kind: cpmig.EndpointsAPIServer, Endpoints: []string{"10.0.1.10"}, Reverted: true})
	if err == nil || !strings.Contains(err.Error(), "flag --on-endpoints") || !strings.Contains(err.Error(), "lb still on the source") {
		t.Fatalf("refusing hook: %v", err)
	}
	b, _ := os.ReadFile(out)
	if want := "etcd http://a,http://b promote/t1 false\napiserver 10.0.1.10 dns/switch true\n"; string(b) != want {
		t.Errorf("hook saw %q, want %q", b, want)
	}
}
