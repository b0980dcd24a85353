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
//
// Leadership transfer. Raft drops proposals while a leader transfer is
// pending (etcd answers "raft proposal dropped"). Such a write provably did
// not happen, so the writer sends it again within the same attempt's
// deadline and counts it (Result.DroppedProposalRetries, reported as the
// check dropped_proposal_retries): a client that retries exactly this error
// sees no failure. kube-apiserver does not retry it today; it would return
// the error to its caller. A proposal a follower forwarded during the
// transfer is dropped silently instead and its client waits for the
// request timeout — the migration pins clients to the leader for the
// transfer so that this cannot happen (migration/etcd, move-leader).
package etcdprobe
