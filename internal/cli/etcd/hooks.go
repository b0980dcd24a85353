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

// publishHook returns the endpoint hook of `etcd migrate` for the changes
// before each source removal (Leaving set, not Reverted; every other change
// is nil: clients with a static list hear of the targets first there, so a
// rollback has nothing to undo for them): it prints the endpoints clients
// must use now to log, and runs --on-endpoints (when given) with
//
//	HANDOVER_ENDPOINTS           the client URLs that remain, comma-separated
//	HANDOVER_LEAVING_MEMBER      the name of the member removed next
//	HANDOVER_LEAVING_CLIENT_URLS its client URLs, comma-separated
//
// The member is removed only after the command exits 0.
func publishHook(log io.Writer, argv []string) etcdmig.EndpointHook {
	return func(ctx context.Context, ch etcdmig.EndpointChange) error {
		if ch.Leaving == nil || ch.Reverted {
			return nil
		}
		eps, leaving := ch.Endpoints, *ch.Leaving
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

// holdHook returns the client hold of --hold-clients: the command runs
// before each leadership transfer with HANDOVER_HOLD=hold and after it
// with HANDOVER_HOLD=release, and gets
//
//	HANDOVER_ENDPOINTS  the voters' client URLs, comma-separated
//
// With hold it must stop the clients from sending new requests (a proxy
// that stops forwarding, clients told to pause) and return; with release
// let them go again. Requests already sent may complete: handover waits
// for them on the members' /metrics before it moves the leadership.
func holdHook(log io.Writer, argv []string, endpoints func(context.Context) ([]string, error)) etcdmig.ClientHold {
	run := func(ctx context.Context, action string) error {
		_, _ = fmt.Fprintf(log, "clients: %s (--hold-clients) around a leadership transfer\n", action)
		eps, _ := endpoints(ctx)
		return runHook(ctx, "--hold-clients", argv, []string{
			"HANDOVER_HOLD=" + action,
			"HANDOVER_ENDPOINTS=" + strings.Join(eps, ","),
		})
	}
	return etcdmig.HoldFuncs{
		OnHold:    func(ctx context.Context) error { return run(ctx, "hold") },
		OnRelease: func(ctx context.Context) error { return run(ctx, "release") },
	}
}
