// Command handover performs make-before-break changes to a running control
// plane: trust rotation, live etcd migration and controller canaries.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/handover-dev/handover/internal/cli/root"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := root.ExecuteAs(ctx, root.DisplayName(os.Args[0]), os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
