package etcd

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultQuotaBackendBytes is etcd's --quota-backend-bytes when unset:
// 2 GiB (etcd docs, "System limits"; server/storage/quota.go
// DefaultQuotaBytes). A member whose database reaches its quota raises the
// NOSPACE alarm and refuses writes.
const DefaultQuotaBackendBytes int64 = 2 << 30

// minQuotaHeadroom is the least room MinTargetQuota leaves above the
// source's database: 256 MiB.
const minQuotaHeadroom int64 = 256 << 20

// MinTargetQuota returns the smallest --quota-backend-bytes a target may run
// with when the source's database is dbSize bytes: dbSize plus a quarter of
// it, and at least 256 MiB more (the learner receives the whole database as
// a snapshot, and the cluster keeps growing while it migrates).
func MinTargetQuota(dbSize int64) int64 {
	return dbSize + max(dbSize/4, minQuotaHeadroom)
}

// reservedMemberFlags are the etcd flags EtcdFlags writes itself; a
// --member-flag may not set them.
var reservedMemberFlags = map[string]bool{
	"name": true, "data-dir": true, "listen-peer-urls": true, "initial-advertise-peer-urls": true,
	"listen-client-urls": true, "advertise-client-urls": true, "initial-cluster": true,
	"initial-cluster-state": true, "initial-cluster-token": true, "listen-metrics-urls": true,
	"cert-file": true, "key-file": true, "trusted-ca-file": true, "client-cert-auth": true,
	"peer-cert-file": true, "peer-key-file": true, "peer-trusted-ca-file": true, "peer-client-cert-auth": true,
}

// ParseMemberFlags turns --member-flag values "KEY=VALUE" (KEY an etcd flag
// name without dashes, e.g. "quota-backend-bytes=8589934592") into etcd
// flags "--KEY=VALUE", in order. It refuses, naming the value, a missing
// "=", an empty or dashed-looking key, a key given twice, and the flags
// handover sets itself (name, URLs, data dir, cluster bootstrap, TLS files).
func ParseMemberFlags(kvs []string) ([]string, error) {
	seen := map[string]bool{}
	out := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: member flag %q: want KEY=VALUE", ErrInvalidConfig, kv)
		case k == "" || strings.HasPrefix(k, "-") || strings.ContainsAny(k, " \t"):
			return nil, fmt.Errorf("%w: member flag %q: KEY must be an etcd flag name without dashes, e.g. quota-backend-bytes", ErrInvalidConfig, kv)
		case reservedMemberFlags[k]:
			return nil, fmt.Errorf("%w: member flag %q: handover sets --%s itself", ErrInvalidConfig, kv, k)
		case seen[k]:
			return nil, fmt.Errorf("%w: member flag %q: --%s given twice", ErrInvalidConfig, kv, k)
		}
		seen[k] = true
		out = append(out, "--"+k+"="+v)
	}
	return out, nil
}

// FlagValue returns the value of --key in flags ("--key=value" form).
func FlagValue(flags []string, key string) (string, bool) {
	for _, f := range flags {
		if v, ok := strings.CutPrefix(f, "--"+key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// InheritFlags returns the flags the targets run with: flags (from
// --member-flag) plus the source's --quota-backend-bytes when flags do not
// set it and sourceQuota (bytes, the largest etcd_server_quota_backend_bytes
// among the sources; 0 = unknown) is known.
func InheritFlags(flags []string, sourceQuota int64) []string {
	out := append([]string(nil), flags...)
	if _, ok := FlagValue(flags, "quota-backend-bytes"); !ok && sourceQuota > 0 {
		out = append(out, "--quota-backend-bytes="+strconv.FormatInt(sourceQuota, 10))
	}
	return out
}

// TargetQuota returns the --quota-backend-bytes value in flags, or
// DefaultQuotaBackendBytes when absent or ≤ 0 (etcd's rule). It errors on a
// value that is not an integer.
func TargetQuota(flags []string) (int64, error) {
	v, ok := FlagValue(flags, "quota-backend-bytes")
	if !ok {
		return DefaultQuotaBackendBytes, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: member flag quota-backend-bytes=%q: want bytes as an integer: %w", ErrInvalidConfig, v, err)
	}
	if n <= 0 {
		return DefaultQuotaBackendBytes, nil
	}
	return n, nil
}
