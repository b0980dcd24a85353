package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Mode selects how a CertificateAuthority reaches its targets.
// +kubebuilder:validation:Enum=Managed;Legacy
type Mode string

const (
	// ModeManaged stages every change make-before-break: overlapping trust
	// bundle first, verified, then leaves, then the previous CA is dropped.
	ModeManaged Mode = "Managed"
	// ModeLegacy mirrors the root into the targets directly, with no staging
	// (the behaviour before handover; Kyma lifecycle-manager #1890's
	// --cert-management-legacy switch).
	ModeLegacy Mode = "Legacy"
)

// KeyAlgorithm is the key type of a generated CA or leaf.
// +kubebuilder:validation:Enum=ECDSAP256;RSA2048;RSA3072;RSA4096;Ed25519
type KeyAlgorithm string

// Key algorithms.
const (
	KeyAlgorithmECDSAP256 KeyAlgorithm = "ECDSAP256"
	KeyAlgorithmRSA2048   KeyAlgorithm = "RSA2048"
	KeyAlgorithmRSA3072   KeyAlgorithm = "RSA3072"
	KeyAlgorithmRSA4096   KeyAlgorithm = "RSA4096"
	KeyAlgorithmEd25519   KeyAlgorithm = "Ed25519"
)

// CertificateAuthoritySpec is the desired trust of one CA over its lifetime:
// one object governs every rotation of that CA.
type CertificateAuthoritySpec struct {
	// Mode is Managed (staged, verified rotation) or Legacy (targets mirror
	// the root directly). Switching on a live object converges without a
	// chart change and without an mTLS failure.
	// +kubebuilder:default=Managed
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// Source is where the CA comes from.
	Source CASource `json:"source"`

	// TrustBundles are the Secrets and ConfigMaps that receive the trust
	// bundle (PEM, active CA first).
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +optional
	TrustBundles []TrustBundleTarget `json:"trustBundles,omitempty"`

	// BundlePolicy bounds the trust bundle.
	// +optional
	BundlePolicy BundlePolicy `json:"bundlePolicy,omitempty"`

	// Certificates are leaves issued from this CA into Secrets with stable
	// key names (tls.crt, tls.key, ca.crt). A leaf Secret holds the CA's
	// certificate chain but never the CA's private key.
	// +listType=map
	// +listMapKey=secretName
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Certificates []CertificateSpec `json:"certificates,omitempty"`

	// Consumers are the workloads that read the bundle or the leaves, and how
	// each picks up a change.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Consumers []Consumer `json:"consumers,omitempty"`

	// PropagationTimeout is how long a consumer without a probe is given to
	// pick up a change (kubelet sync period plus cache TTL). Default 90s;
	// 1s to 1h.
	// +kubebuilder:default="90s"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="must be between 1s and 1h"
	// +optional
	PropagationTimeout *Duration `json:"propagationTimeout,omitempty"`

	// GracePeriod is how long the previous CA stays in the bundle after every
	// consumer presents a leaf from the new CA. Default 1h; at most 720h.
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || duration(self) <= duration('720h')",message="must be at most 720h"
	// +optional
	GracePeriod *Duration `json:"gracePeriod,omitempty"`
}

// CASource names exactly one origin of the CA.
// +kubebuilder:validation:XValidation:rule="has(self.generate) != has(self.secretRef)",message="set exactly one of source.generate or source.secretRef"
type CASource struct {
	// Generate makes handover create and own the CA key in a Secret.
	// +optional
	Generate *GenerateSource `json:"generate,omitempty"`
	// SecretRef follows an external root, e.g. a Secret cert-manager rotates.
	// A change of its certificate starts a rotation; handover decides when it
	// reaches consumers.
	// +optional
	SecretRef *CASecretRef `json:"secretRef,omitempty"`
}

// GenerateSource configures a CA that handover generates and renews. Every
// duration rule first checks the text looks like a duration, so an object
// stored before the rules existed still takes status updates (the field's
// pattern rejects such text on create and update).
// +kubebuilder:validation:XValidation:rule="!has(self.duration) || !has(self.renewBefore) || !self.duration.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || !self.renewBefore.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || duration(self.renewBefore) < duration(self.duration)",message="renewBefore must be shorter than duration"
// +kubebuilder:validation:XValidation:rule="!has(self.duration) || !has(self.renewBefore) || !self.duration.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || !self.renewBefore.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || duration(self.duration) - duration(self.renewBefore) >= duration('1h')",message="duration - renewBefore (the time between two renewals) must be at least 1h"
type GenerateSource struct {
	// CommonName of the CA certificate. Default: the object's name.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CommonName string `json:"commonName,omitempty"`
	// Duration is the CA certificate's validity. Default 8760h (1 year);
	// 1h to 87600h (10 years).
	// +kubebuilder:default="8760h"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('1h') && duration(self) <= duration('87600h')",message="must be between 1h and 87600h"
	// +optional
	Duration *Duration `json:"duration,omitempty"`
	// RenewBefore starts a rotation this long before notAfter. Default 720h;
	// at least 1m, shorter than duration by at least 1h (so renewals are at
	// least 1h apart).
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('1m')",message="must be at least 1m"
	// +optional
	RenewBefore *Duration `json:"renewBefore,omitempty"`
	// Algorithm of the CA key. Default ECDSAP256.
	// +kubebuilder:default=ECDSAP256
	// +optional
	Algorithm KeyAlgorithm `json:"algorithm,omitempty"`
	// SecretName is the handover-owned Secret that holds the generated CA
	// (tls.crt, tls.key) and the previous one (previous.crt, previous.key).
	// Default "<name>-handover-ca". An existing Secret is used only if it
	// carries handover's ownership mark for this object (AnnotationOwner).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName string `json:"secretName,omitempty"`
}

// CASecretRef points at a Secret, in the object's namespace, holding an
// external CA.
type CASecretRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// CertificateKey is the data key holding the CA certificate (PEM).
	// +kubebuilder:default="tls.crt"
	// +optional
	CertificateKey string `json:"certificateKey,omitempty"`
	// PrivateKeyKey is the data key holding the CA's private key. handover
	// needs it to issue leaves and the verification probes' client leaves,
	// so the Secret must hold it. Default "tls.key".
	// +kubebuilder:default="tls.key"
	// +optional
	PrivateKeyKey string `json:"privateKeyKey,omitempty"`
}

// TargetKind is the kind of object a trust bundle is written to.
// +kubebuilder:validation:Enum=Secret;ConfigMap
type TargetKind string

// Target kinds.
const (
	TargetSecret    TargetKind = "Secret"
	TargetConfigMap TargetKind = "ConfigMap"
)

// TrustBundleTarget is one object that receives the trust bundle.
type TrustBundleTarget struct {
	// Kind is Secret or ConfigMap.
	Kind TargetKind `json:"kind"`
	// Name of the object; handover creates it if absent and owns only Key.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace of the object. Default: the CertificateAuthority's.
	// A CertificateAuthority acts only in its own namespace: any other value
	// is refused (condition NamespaceForbidden) and nothing is written.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Key is the data key that holds the PEM bundle. Default "ca.crt".
	// +kubebuilder:default="ca.crt"
	// +optional
	Key string `json:"key,omitempty"`
}

// BundlePolicy bounds the trust bundle.
type BundlePolicy struct {
	// MaxCAs is the most CAs a bundle holds (active first). handover keeps
	// the active CA and at most one previous CA, so 2 is the largest value
	// it supports; 1 (no overlap) is accepted only in mode Legacy. A CA that
	// still signs a leaf in use is never dropped: the rotation waits instead.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2
	// +optional
	MaxCAs int32 `json:"maxCAs,omitempty"`
}

// Usage is an extended key usage of a leaf (RFC 5280 §4.2.1.12).
// +kubebuilder:validation:Enum=server;client
type Usage string

// Usages.
const (
	UsageServer Usage = "server"
	UsageClient Usage = "client"
)

// CertificateSpec is one leaf issued from this CA.
type CertificateSpec struct {
	// SecretName is the kubernetes.io/tls Secret that receives tls.crt
	// (leaf + chain), tls.key and ca.crt (the trust bundle).
	// +kubebuilder:validation:MinLength=1
	SecretName string `json:"secretName"`
	// Namespace of the Secret. Default: the CertificateAuthority's.
	// A CertificateAuthority acts only in its own namespace: any other value
	// is refused (condition NamespaceForbidden) and nothing is written.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// CommonName of the leaf.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	CommonName string `json:"commonName,omitempty"`
	// DNSNames are subjectAltName DNS entries (RFC 1123 names, a leading
	// "*." wildcard allowed).
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$`
	// +optional
	DNSNames []string `json:"dnsNames,omitempty"`
	// IPAddresses are subjectAltName IP entries.
	// +listType=atomic
	// +optional
	IPAddresses []string `json:"ipAddresses,omitempty"`
	// URIs are subjectAltName URI entries (e.g. SPIFFE IDs).
	// +listType=atomic
	// +optional
	URIs []string `json:"uris,omitempty"`
	// Usages of the leaf. Default [server, client].
	// +listType=set
	// +optional
	Usages []Usage `json:"usages,omitempty"`
	// Duration is the leaf's validity, clamped to the CA's notAfter. Default
	// 8760h, the CA's default validity: handover re-issues leaves only in a
	// rotation (the CA's renewal at notAfter - renewBefore), so a shorter
	// leaf would expire in the consumers before anything re-issues it; 5m to 87600h.
	// +kubebuilder:default="8760h"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9.]+(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('5m') && duration(self) <= duration('87600h')",message="must be between 5m and 87600h"
	// +optional
	Duration *Duration `json:"duration,omitempty"`
	// Algorithm of the leaf key. Default ECDSAP256.
	// +kubebuilder:default=ECDSAP256
	// +optional
	Algorithm KeyAlgorithm `json:"algorithm,omitempty"`
}

// WorkloadKind is the kind of a consumer workload.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
type WorkloadKind string

// ReloadPolicy says how a consumer picks up a new bundle or leaf.
// +kubebuilder:validation:Enum=Hot;RolloutRestart;Evict
type ReloadPolicy string

const (
	// ReloadHot consumers re-read mounted files by themselves (Envoy SDS).
	ReloadHot ReloadPolicy = "Hot"
	// ReloadRolloutRestart patches the pod template annotation, like
	// `kubectl rollout restart`, and waits for the rollout.
	ReloadRolloutRestart ReloadPolicy = "RolloutRestart"
	// ReloadEvict evicts pods one at a time through the Eviction API, so
	// PodDisruptionBudgets are honoured; 429 answers are retried.
	ReloadEvict ReloadPolicy = "Evict"
)

// Consumer is a workload that reads this CA's bundle or leaves.
// +kubebuilder:validation:XValidation:rule="has(self.workloadName) != has(self.selector)",message="set exactly one of workloadName or selector"
type Consumer struct {
	// Name identifies the consumer in status.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Kind of the workload.
	Kind WorkloadKind `json:"kind"`
	// Namespace of the workload. Default: the CertificateAuthority's.
	// A CertificateAuthority acts only in its own namespace: any other value
	// is refused (condition NamespaceForbidden) and nothing is written.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// WorkloadName selects one workload by name.
	// +optional
	WorkloadName string `json:"workloadName,omitempty"`
	// Selector selects workloads by label.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Reload is how the consumer picks up a change.
	Reload ReloadPolicy `json:"reload"`
	// Wave orders consumers: lower waves converge first (e.g. control plane
	// before data plane). Default 0.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Wave int32 `json:"wave,omitempty"`
	// Probe verifies by a live mTLS handshake that the consumer accepts the
	// new CA. Without it, handover waits spec.propagationTimeout.
	// +optional
	Probe *ConsumerProbe `json:"probe,omitempty"`
}

// ConsumerProbe is the mTLS endpoint of a consumer: one address, or every
// ready endpoint of a Service. Exactly one of address and service is set.
type ConsumerProbe struct {
	// Address is host:port of one endpoint. Behind a load-balanced address
	// each handshake reaches one replica of the balancer's choosing, so a
	// gate can pass while a replica it never reached still lacks the
	// change; use service to probe every replica.
	// +optional
	Address string `json:"address,omitempty"`
	// Service names a Service in the consumer's namespace: every ready
	// endpoint of its EndpointSlices (label kubernetes.io/service-name) is
	// probed by its own address, twice each, so every replica is verified.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Service string `json:"service,omitempty"`
	// Port is the name of the EndpointSlice port to dial (the Service
	// port's name); "" when the Service has exactly one port.
	// +optional
	Port string `json:"port,omitempty"`
	// ServerName is the TLS SNI and the name verified in the server's leaf.
	// Default: the host of address, or <service>.<namespace>.svc.
	// +optional
	ServerName string `json:"serverName,omitempty"`
}
