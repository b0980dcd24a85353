package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of a CertificateAuthority.
const (
	// ConditionReady is True when every target and consumer is on the
	// current bundle generation and no rotation is in progress.
	ConditionReady = "Ready"
	// ConditionRotating is True while a rotation's plan runs.
	ConditionRotating = "Rotating"
	// ConditionDegraded is True when the spec cannot be acted on (bad source
	// PEM, key mismatch, forbidden target, missing consumer) or a rotation
	// failed after its point of no return.
	ConditionDegraded = "Degraded"
)

// CAInfo describes a CA certificate without any key material.
type CAInfo struct {
	// Subject is the RFC 2253 form of the certificate's subject.
	Subject string `json:"subject"`
	// Fingerprint is the SHA-256 of the DER certificate, hex with colons.
	Fingerprint string `json:"fingerprint"`
	// NotAfter is the end of the certificate's validity.
	NotAfter metav1.Time `json:"notAfter"`
}

// StepStatus mirrors one step of the running plan (internal/plan.StepState).
type StepStatus struct {
	// Name is the step's deterministic name.
	Name string `json:"name"`
	// Phase is Pending, Applying, Done, Reverting or Reverted.
	Phase string `json:"phase"`
	// Reason explains the phase, e.g. the gate's last NotYet reason.
	// +optional
	Reason string `json:"reason,omitempty"`
	// UpdatedAt is when the phase was last written.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
	// AppliedAt is when the step's change was first applied in this
	// rotation (e.g. a bundle published), in microseconds. A step that
	// waits (propagationTimeout, gracePeriod) counts from it, so a
	// restarted controller resumes the same wait.
	// +optional
	AppliedAt *metav1.MicroTime `json:"appliedAt,omitempty"`
}

// RotationStatus is the progress of one rotation, persisted so a restarted
// controller resumes mid-rotation.
type RotationStatus struct {
	// Target is the fingerprint of the CA being rotated in.
	Target string `json:"target"`
	// Trigger says what started it: Renewal, SourceChanged, Manual, ModeSwitch.
	Trigger string `json:"trigger"`
	// Strategy is the plan that runs it: staged (Managed) or atomic (Legacy).
	// +optional
	Strategy string `json:"strategy,omitempty"`
	// StartedAt is when the plan started.
	StartedAt metav1.Time `json:"startedAt"`
	// Phase is the name of the running step, or the outcome when ended.
	Phase string `json:"phase"`
	// Steps are the plan's checkpoint.
	// +listType=atomic
	// +optional
	Steps []StepStatus `json:"steps,omitempty"`
	// RollingBack is true once a failure before the point of no return
	// started the reverse walk.
	// +optional
	RollingBack bool `json:"rollingBack,omitempty"`
	// Outcome is Succeeded, RolledBack or Failed once the plan ended.
	// +optional
	Outcome string `json:"outcome,omitempty"`
	// Reason explains the outcome.
	// +optional
	Reason string `json:"reason,omitempty"`
	// RollbackReason is the failure that started a rollback (kept when a
	// revert fails, so a resumed controller retries the rollback).
	// +optional
	RollbackReason string `json:"rollbackReason,omitempty"`
}

// ConsumerStatus is one consumer's convergence.
type ConsumerStatus struct {
	// Name is spec.consumers[].name.
	Name string `json:"name"`
	// BundleGeneration is the generation this consumer is verified on.
	BundleGeneration int64 `json:"bundleGeneration"`
	// Message explains a consumer that is not converged.
	// +optional
	Message string `json:"message,omitempty"`
}

// ObjectReference names a namespaced object.
type ObjectReference struct {
	// Kind of the object (e.g. Pod).
	Kind string `json:"kind"`
	// Namespace of the object.
	Namespace string `json:"namespace"`
	// Name of the object.
	Name string `json:"name"`
}

// CertificateAuthorityStatus is what the controller observed and did.
type CertificateAuthorityStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready, Rotating and Degraded.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Phase is the current phase of the active rotation, Idle, or Degraded
	// (bad input and no rotation running).
	// +optional
	Phase string `json:"phase,omitempty"`
	// Reason is the one-word reason of the state: the Degraded condition's
	// reason when it is True, else the Ready condition's (RotationRunning,
	// NotPublished, Converged). The conditions' messages say more.
	// +optional
	Reason string `json:"reason,omitempty"`
	// BundleGeneration increments every time the published bundle changes.
	// +optional
	BundleGeneration int64 `json:"bundleGeneration,omitempty"`
	// Active is the CA that signs new leaves.
	// +optional
	Active *CAInfo `json:"active,omitempty"`
	// Previous are the CAs before Active, newest first. handover keeps the
	// first, with its key, in the managed copy so that a revert can rotate
	// back to it, and the certificates (no keys) of as many older ones as
	// spec.bundlePolicy.maxCAs keeps in the trust bundle.
	// +listType=atomic
	// +optional
	Previous []CAInfo `json:"previous,omitempty"`
	// Rotation is the active (or last) rotation.
	// +optional
	Rotation *RotationStatus `json:"rotation,omitempty"`
	// Queued is the fingerprint of a source change that arrived during a
	// rotation; it starts when the active one ends (never interleaved).
	// +optional
	Queued string `json:"queued,omitempty"`
	// Consumers is per-consumer convergence.
	// +listType=map
	// +listMapKey=name
	// +optional
	Consumers []ConsumerStatus `json:"consumers,omitempty"`
	// ConsumersConverged reads like "3/4 on generation 5".
	// +optional
	ConsumersConverged string `json:"consumersConverged,omitempty"`
	// TrustBundleNamespaces counts the namespaces that spec.trustBundles
	// namespaceSelector entries reach now.
	// +optional
	TrustBundleNamespaces int32 `json:"trustBundleNamespaces,omitempty"`
	// UndeclaredConsumers are pods that mount a target (a trust bundle or a
	// leaf Secret of this CA) but are not declared
	// in spec.consumers; a rotation may break them.
	// +listType=atomic
	// +optional
	UndeclaredConsumers []ObjectReference `json:"undeclaredConsumers,omitempty"`
}

// CertificateAuthority governs every rotation of one CA: its trust bundles,
// the leaves it issues and the consumers that must converge.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=hca,categories=handover
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Consumers",type=string,JSONPath=`.status.consumersConverged`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type CertificateAuthority struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CertificateAuthoritySpec   `json:"spec"`
	Status CertificateAuthorityStatus `json:"status,omitempty"`
}

// CertificateAuthorityList is a list of CertificateAuthority.
//
// +kubebuilder:object:root=true
type CertificateAuthorityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CertificateAuthority `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CertificateAuthority{}, &CertificateAuthorityList{})
}
