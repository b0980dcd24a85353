package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterCertificateAuthoritySpec is a CertificateAuthoritySpec that may
// reach every namespace, plus the namespace that holds its CA.
type ClusterCertificateAuthoritySpec struct {
	// Namespace holds what a namespaced CertificateAuthority keeps in its
	// own namespace: the source Secret (secretRef), the managed copy, and
	// the CertificateAuthority handover runs this object as (same name; it
	// is owned by this object and kept equal to its spec). Like
	// cert-manager's cluster resource namespace, give it to cluster
	// administrators only: whoever may edit CertificateAuthorities or read
	// Secrets there may rotate, revert or read this CA's key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="namespace is immutable"
	Namespace string `json:"namespace"`

	// The spec of a CertificateAuthority; every namespace field may name
	// any namespace (empty = Namespace).
	CertificateAuthoritySpec `json:",inline"`
}

// ClusterCertificateAuthority is a cluster-scoped CertificateAuthority: it
// distributes one CA's trust bundles, leaves and restarts across
// namespaces, which a namespaced CertificateAuthority may not. Only
// cluster administrators are granted its creation (it is aggregated into
// no built-in role). handover runs it as the CertificateAuthority of the
// same name in spec.namespace, whose status it mirrors.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=hcca,categories=handover
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.spec.namespace`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Consumers",type=string,JSONPath=`.status.consumersConverged`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterCertificateAuthority struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterCertificateAuthoritySpec `json:"spec"`
	Status CertificateAuthorityStatus      `json:"status,omitempty"`
}

// ClusterCertificateAuthorityList is a list of ClusterCertificateAuthority.
//
// +kubebuilder:object:root=true
type ClusterCertificateAuthorityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterCertificateAuthority `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ClusterCertificateAuthority{}, &ClusterCertificateAuthorityList{})
}
