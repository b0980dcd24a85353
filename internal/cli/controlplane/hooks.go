package controlplane

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	cpmig "github.com/handover-dev/handover/internal/migration/controlplane"
	etcdmig "github.com/handover-dev/handover/internal/migration/etcd"
)

// hookTimeout bounds one run of --on-endpoints.
const hookTimeout = 2 * time.Minute

// endpointsHook returns the plan's endpoint hook running argv (the
// --on-endpoints command, split on spaces) with
//
//	HANDOVER_ENDPOINTS_KIND  apiserver (the record) or etcd (voter client URLs)
//	HANDOVER_ENDPOINTS       the endpoints clients must use now, comma-separated
//	HANDOVER_STEP            the step after (or, with a leaving member, before) which they changed
//	HANDOVER_REVERTED        true when a rollback restored them
//	HANDOVER_LEAVING_MEMBER  before a removal: the etcd member removed next
//
// A non-zero exit fails the step with the command's last stderr lines
// (before the point of no return: rollback). nil when argv is empty.
func endpointsHook(argv []string) cpmig.EndpointHook {
	if len(argv) == 0 {
		return nil
	}
	return func(ctx context.Context, ch cpmig.EndpointChange) error {
		ctx, cancel := context.WithTimeout(ctx, hookTimeout)
		defer cancel()
		env := []string{
			"HANDOVER_ENDPOINTS_KIND=" + ch.Kind,
			"HANDOVER_ENDPOINTS=" + strings.Join(ch.Endpoints, ","),
			"HANDOVER_STEP=" + ch.Step,
			"HANDOVER_REVERTED=" + strconv.FormatBool(ch.Reverted),
		}
		if ch.Leaving != nil {
			env = append(env, "HANDOVER_LEAVING_MEMBER="+ch.Leaving.Name)
		}
		err := etcdmig.RunCommand(ctx, argv, env)
		if err != nil {
			return fmt.Errorf("flag --on-endpoints: %s: %w", strings.Join(argv, " "), err)
		}
		return nil
	}
}
