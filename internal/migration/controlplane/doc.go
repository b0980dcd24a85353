// Package controlplane moves a whole control plane — etcd members and the
// kube-apiserver behind a stable DNS name — to new hosts without failed API
// requests, in the order of Gardener GEP-0039 (live control-plane
// migration), on the plan engine (internal/plan) and reusing the etcd
// migration's steps (etcd.NewPhases):
//
//	preflight                  etcd preflight; apiserver gates (certificates carry the name, DNS TTL, version skew)
//	etcd: grow                 add-learner/T, provision/T, catch-up/T, promote/T
//	apiserver/start-target     start the target apiserver on the target members; gate /readyz and a LIST of every served resource
//	dns/switch                 point the name at the target
//	apiserver/drain            the source stays fully Ready for 2·TTL+1 while fresh connections move
//	apiserver/stop-source      graceful stop (shutdown delay, 429 Retry-After, watch grace); gate: the process exited, which it does after in-flight requests drained
//	etcd: move-leader, verify/before-removal
//	--- point of no return ---
//	etcd: remove/S1, verify/after-first-removal, remove/S2 … ; verify/final
//	apiserver/verify-final     /readyz and a LIST of every resource through the name
//
// Before the point of no return a failed gate or an abort reverts in
// reverse: the source apiserver is started again, DNS points back at it,
// the target apiserver stops and the added members are removed. Progress is
// a file checkpoint (plan.FileCheckpoint) so a killed run resumes.
package controlplane
