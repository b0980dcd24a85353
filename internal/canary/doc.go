// Package canary is handover's controller canary: two versions of one
// controller run side by side, each object is owned by exactly one of them,
// and ownership moves from the stable version to the canary step by step.
//
// This package holds the pure rules (assignment, ownership of children, the
// deletion budget) with no I/O, and the I/O that obeys them: the generated
// ValidatingAdmissionPolicy (policy.go), the validating webhook (webhook*.go)
// and the plan steps (plan*.go).
//
// Ownership is the label api/v1alpha1.LabelControllerRevision on the main
// object; no label means the stable revision. A child (an object with a
// controller ownerReference) belongs to whoever owns its controller.
package canary
