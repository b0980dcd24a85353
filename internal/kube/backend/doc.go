// Package backend is the Kubernetes implementation of rotation.Backend for
// one CertificateAuthority (api/v1alpha1): trust bundles go to
// spec.trustBundles (Secret or ConfigMap), leaves to spec.certificates
// (kubernetes.io/tls Secrets), and the consumers are the workloads of
// spec.consumers.
//
// Semantics chosen here (the rotation plan relies on them):
//
//   - Consumers are listed in wave order (lower first), spec order within a
//     wave. Reload Hot maps to rotation.ReloadHot; RolloutRestart and Evict
//     map to rotation.ReloadLoadOnce (they need a restart). A consumer with
//     a probe is a rotation.RoleServer with Addr = probe.address; one
//     without is a rotation.RoleClient with Addr "" (it cannot be dialled,
//     so it is verified by propagation, see below). Replicas is the sum of
//     the selected workloads' status replicas (DaemonSet:
//     desiredNumberScheduled).
//   - Every write owns only its key: other keys, labels and annotations of a
//     target are kept. A write that changes content stamps the object with
//     AnnotationPublishedAt (RFC 3339, from Options.Clock) and
//     AnnotationBundleHash (SHA-256 of the trust bundle it holds), so the
//     propagation wait survives a controller restart. Equal content writes
//     nothing (idempotent). Every target is resolved, checked and
//     dry-run-written before the first real write, so bad input changes
//     nothing.
//   - Verification with a probe: live mTLS handshakes (probe.MTLS, one
//     fresh connection each) to probe.address, 2×replicas attempts (at
//     least 2) because the address may be a Service balancing across pods.
//     All accepted → nil; all rejected by the peer → an error wrapping
//     rotation.ErrRejected; anything else (a mix, a timeout, a refused
//     dial) → a plain error, so the plan says "not yet".
//   - Verification without a probe cannot see the pods, so it reasons from
//     the source of truth: the published objects must all hold (or all
//     lack) the CA in question, and the change must have reached the pods:
//     for Hot, spec.propagationTimeout since the latest publish; for
//     RolloutRestart/Evict, a completed restart by this backend for that
//     publish (the restart marker, see RollingRestart). Before that the
//     error reads "waiting for propagation (23s left)".
package backend
