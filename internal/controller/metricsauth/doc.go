// Package metricsauth holds the RBAC markers of `handover controller
// --metrics-secure`: the controller authenticates a scraper's bearer token
// (TokenReview) and authorizes GET /metrics (SubjectAccessReview) through
// controller-runtime's filters.WithAuthenticationAndAuthorization. `make
// generate` (controller-gen rbac over ./internal/controller/...) adds them
// to the controller's ClusterRole. The scraper's own ClusterRole (get on the
// non-resource URL /metrics) is handover-metrics-reader in deploy/.
package metricsauth

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
