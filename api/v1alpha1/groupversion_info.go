// Package v1alpha1 holds the handover.dev/v1alpha1 API: CertificateAuthority,
// the Kubernetes form of trust rotation. It imports apimachinery and nothing of
// handover's, so clients can vendor it alone.
//
// +kubebuilder:object:generate=true
// +groupName=handover.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "handover.dev", Version: "v1alpha1"}

	// SchemeBuilder registers these types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds these types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
