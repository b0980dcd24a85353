// Package e2e holds end-to-end suites that run against the full kubelet-less
// cluster of internal/testenv/cluster (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok), built by `make k8s-binaries`.
// Every test skips under -short.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/handover-dev/handover/internal/cli/sandbox"
)

// cliEnv makes the test binary act as `handover sandbox`, so the sandbox test
// runs the real command in separate processes that exit, exactly as a user
// would, without linking the rest of handover.
const cliEnv = "HANDOVER_E2E_RUN_SANDBOX_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		cmd := sandbox.NewCommand()
		cmd.SilenceUsage = true
		cmd.SilenceErrors = true
		cmd.SetArgs(os.Args[1:])
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
