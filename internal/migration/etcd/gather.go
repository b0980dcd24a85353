package etcd

import (
	"context"
)

// Gather observes what Preflight judges: the membership, every member's
// status and round trip from here, and the provisioner's etcd version. The
// limits in the returned Facts are zero (the caller sets them). It fails
// only when MemberList fails; unreachable members are facts, not errors.
func Gather(ctx context.Context, c *Cluster, targets []Target, p Provisioner) (Facts, error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return Facts{}, err
	}
	f := Facts{Targets: targets}
	for _, s := range c.Statuses(ctx, ms) {
		mf := MemberFacts{Member: s.Member, RTT: s.RTT}
		if len(s.ClientURLs) > 0 {
			mf.Endpoint = s.ClientURLs[0]
		}
		if s.Err != nil {
			mf.Err = s.Err.Error()
		} else {
			mf.Reachable = true
			mf.Version, mf.DBSize, mf.Leader, mf.Errors = s.Status.Version, s.Status.DbSize, s.Status.Leader, s.Status.Errors
			if m, err := c.Metrics(ctx, mf.Endpoint, quotaMetric); err == nil {
				mf.QuotaBytes = int64(m[quotaMetric])
			}
		}
		f.Members = append(f.Members, mf)
	}
	if p != nil {
		v, err := p.Version(ctx)
		if err != nil {
			f.TargetVersionErr = err.Error()
		} else {
			f.TargetVersion = v
		}
	}
	return f, nil
}

// quotaMetric is the gauge etcd exports with its --quota-backend-bytes.
const quotaMetric = "etcd_server_quota_backend_bytes"

// SourceQuota returns the largest --quota-backend-bytes among f's members
// (0 when no member's metrics could be read).
func (f Facts) SourceQuota() int64 {
	var n int64
	for _, m := range f.Members {
		n = max(n, m.QuotaBytes)
	}
	return n
}

// DBSize returns the largest database size among f's reachable members.
func (f Facts) DBSize() int64 {
	var n int64
	for _, m := range f.Members {
		n = max(n, m.DBSize)
	}
	return n
}
