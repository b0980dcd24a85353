// Package etcdprobe is the etcd probe kind: concurrent writers (Put of
// unique keys, every acknowledged one recorded), linearizable readers, and a
// watcher from the start revision. At the end, Result checks — not assumes —
// that every acknowledged write is present and that the watch saw every
// acknowledged revision, and measures the worst write stall.
//
// Endpoints. The probe's client stands in for an API server. kube-apiserver
// dials a static --etcd-servers list through clientv3's balancer and does
// not follow membership changes; if its list named only the old members, it
// would fail once they are removed — not because etcd was down, but because
// it was never told about the new members. So the probe's endpoints follow
// the migration explicitly: the migration calls Prober.SetEndpoints (through
// migration/etcd Config.OnEndpoints) after each promotion and before each
// removal, which is the reconfiguration an API server needs too (a later
// issue drives it). A learner is never an endpoint: it refuses writes and
// linearizable reads.
package etcdprobe
