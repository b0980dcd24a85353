package controller

import (
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsOptions returns the metrics server options of o: plain HTTP on
// o.MetricsAddr, or with o.MetricsSecure HTTPS behind authentication
// (TokenReview) and authorization (SubjectAccessReview of GET /metrics).
// The permissions this needs are the tokenreviews and subjectaccessreviews
// rules in the controller's ClusterRole (internal/controller/metricsauth).
func metricsOptions(o *Options) metricsserver.Options {
	mo := metricsserver.Options{BindAddress: o.MetricsAddr}
	if o.MetricsSecure {
		mo.SecureServing = true
		mo.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return mo
}
