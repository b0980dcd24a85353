package etcd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// hookTimeout bounds one run of a user's hook command.
const hookTimeout = 2 * time.Minute

// runHook runs argv (a user's hook command) with env added to ours, at most
// hookTimeout. A non-zero exit is an error naming the flag and carrying the
// command's last stderr lines.
func runHook(ctx context.Context, flag string, argv []string, env []string) error {
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	if err := etcdmig.RunCommand(ctx, argv, env); err != nil {
		return fmt.Errorf("flag %s: %s: %w", flag, strings.Join(argv, " "), err)
	}
	return nil
}

// publishHook returns the PublishEndpoints hook of `etcd migrate`: it always
// prints the endpoints clients must use now to log, and runs --on-endpoints
// (when given) with
//
//	HANDOVER_ENDPOINTS           the client URLs that remain, comma-separated
//	HANDOVER_LEAVING_MEMBER      the name of the member removed next
//	HANDOVER_LEAVING_CLIENT_URLS its client URLs, comma-separated
//
// The member is removed only after the command exits 0.
func publishHook(log io.Writer, argv []string) func(context.Context, []string, etcdmig.Member) error {
	return func(ctx context.Context, eps []string, leaving etcdmig.Member) error {
		_, _ = fmt.Fprintf(log, "clients: use --endpoints=%s now; member %q leaves next\n", strings.Join(eps, ","), leaving.Name)
		if len(argv) == 0 {
			return nil
		}
		return runHook(ctx, "--on-endpoints", argv, []string{
			"HANDOVER_ENDPOINTS=" + strings.Join(eps, ","),
			"HANDOVER_LEAVING_MEMBER=" + leaving.Name,
			"HANDOVER_LEAVING_CLIENT_URLS=" + strings.Join(leaving.ClientURLs, ","),
		})
	}
}

// stopSourceHook returns the StopSource hook running --stop-source with
//
//	HANDOVER_MEMBER_NAME, HANDOVER_MEMBER_ID (hex), HANDOVER_CLIENT_URLS,
//	HANDOVER_PEER_URLS
//
// The command must stop that member gracefully (SIGTERM: etcd finishes the
// requests in flight) and return once it stopped.
func stopSourceHook(log io.Writer, argv []string) func(context.Context, etcdmig.Member) error {
	return func(ctx context.Context, m etcdmig.Member) error {
		_, _ = fmt.Fprintf(log, "stopping source member %q before its removal (--stop-source)\n", m.Name)
		return runHook(ctx, "--stop-source", argv, []string{
			"HANDOVER_MEMBER_NAME=" + m.Name,
			fmt.Sprintf("HANDOVER_MEMBER_ID=%x", m.ID),
			"HANDOVER_CLIENT_URLS=" + strings.Join(m.ClientURLs, ","),
			"HANDOVER_PEER_URLS=" + strings.Join(m.PeerURLs, ","),
		})
	}
}
