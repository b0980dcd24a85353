// Package etcd moves the members of a running etcd cluster to new hosts
// without losing quorum or an acknowledged write, as a plan on handover's
// engine (internal/plan).
//
// The plan follows what etcd allows (etcd docs: runtime-configuration,
// "learner" design doc) and the order Gardener GEP-0039 settled on: for each
// target, one at a time, MemberAddAsLearner → start the member with
// --initial-cluster-state=existing → wait until the learner's applied index
// reaches the leader's → MemberPromote (retried while etcd answers
// ErrGRPCLearnerNotReady); then MoveLeader to a target, verify (revision and
// HashKV agree on every member), and remove the source members one at a
// time, followers first, re-checking health and quorum before each. The
// first removal is the point of no return: before it, any failed gate,
// timeout or abort removes the added members and stops them, leaving the
// cluster as it was.
//
// Every step re-derives the world from MemberList (targets are recognised by
// their peer URL, sources by their member ID), so a run killed at any
// instant and started again with the same Config finishes or rolls back.
// The safety rules (Sequence, Quorum, CanRemove, Preflight) are pure
// functions kept apart from the I/O that obeys them.
package etcd
