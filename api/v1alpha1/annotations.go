package v1alpha1

// Annotations a user sets on a CertificateAuthority: any new value triggers.
const (
	// AnnotationRotate: a new value starts a manual rotation (generate: to a
	// freshly generated CA; secretRef: re-publish the active CA).
	AnnotationRotate = "handover.dev/rotate"
	// AnnotationRevert: a new value aborts a running rotation before its
	// point of no return (it rolls back), else rotates back to the previous
	// CA, make-before-break again.
	AnnotationRevert = "handover.dev/revert"
)

// Ownership marks. handover writes a Secret or ConfigMap (the managed copy,
// a trust bundle target, a leaf Secret) only when it does not exist or
// carries AnnotationOwner naming the CertificateAuthority that writes it
// (OwnerOf); it never adopts another object.
const (
	// AnnotationOwner is the ownership mark: "CertificateAuthority/<namespace>/<name>".
	// Set it by hand to let handover take over an existing object.
	AnnotationOwner = "handover.dev/owner"
	// LabelCertificateAuthority names the CertificateAuthority whose managed
	// copy a Secret is (the value is the object's name, for selection; the
	// ownership itself is AnnotationOwner).
	LabelCertificateAuthority = "handover.dev/certificate-authority"
	// LabelClusterCertificateAuthority is set on the CertificateAuthority a
	// ClusterCertificateAuthority runs as; the value is its name.
	LabelClusterCertificateAuthority = "handover.dev/cluster-certificate-authority"
)

// OwnerOf is the AnnotationOwner value of the CertificateAuthority namespace/name.
func OwnerOf(namespace, name string) string {
	return "CertificateAuthority/" + namespace + "/" + name
}

// Bookkeeping annotations on the managed copy Secret.
const (
	// AnnotationPublished is the fingerprint of the CA the targets converged to.
	AnnotationPublished = "handover.dev/published"
	// AnnotationPublishedMode is the spec.mode the targets were last published in.
	AnnotationPublishedMode = "handover.dev/published-mode"
	// AnnotationSourceSeen is the root fingerprint handover last acted on.
	AnnotationSourceSeen = "handover.dev/source-seen"
	// AnnotationRotateHandled is the last rotate token acted on.
	AnnotationRotateHandled = "handover.dev/rotate-handled"
	// AnnotationRevertHandled is the last revert token acted on.
	AnnotationRevertHandled = "handover.dev/revert-handled"
	// AnnotationTrigger is why the active CA was adopted.
	AnnotationTrigger = "handover.dev/trigger"
	// AnnotationBundleGeneration counts bundle changes (status.bundleGeneration).
	AnnotationBundleGeneration = "handover.dev/bundle-generation"
	// AnnotationBundleGenerationKey makes a bundle-generation bump idempotent.
	AnnotationBundleGenerationKey = "handover.dev/bundle-generation-key"
)

// Annotations handover stamps on the objects it writes and the workloads it
// restarts.
const (
	// AnnotationPublishedAt is stamped (RFC 3339 with nanoseconds) on a
	// target or leaf Secret whenever handover changes a key it owns there.
	AnnotationPublishedAt = "handover.dev/published-at"
	// AnnotationBundleHash is the hex SHA-256 of the trust bundle the object
	// holds (the target key, or ca.crt of a leaf Secret).
	AnnotationBundleHash = "handover.dev/bundle-hash"
	// AnnotationRestartedAt is the pod template annotation a rollout restart
	// patches; its value is the publish it restarts for (deterministic, so a
	// re-apply after a crash does not restart twice).
	AnnotationRestartedAt = "handover.dev/restartedAt"
	// AnnotationEvictedFor is set on a workload (metadata, not template)
	// once every pod was evicted and replaced for the publish it names.
	AnnotationEvictedFor = "handover.dev/evicted-for"
	// AnnotationEvicting is set on a workload while eviction runs: JSON
	// {"for": marker, "pods": [UIDs]} of the pods to replace; removed when done.
	AnnotationEvicting = "handover.dev/evicting"
)

// CopySecretName is the managed copy of ca's CA (tls.crt, tls.key,
// previous.crt, previous.key) in ca's namespace:
// spec.source.generate.secretName when set, else "<name>-handover-ca".
func CopySecretName(ca *CertificateAuthority) string {
	if g := ca.Spec.Source.Generate; g != nil && g.SecretName != "" {
		return g.SecretName
	}
	return ca.Name + "-handover-ca"
}
