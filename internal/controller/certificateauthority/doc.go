// Package certificateauthority is the controller of the handover.dev/v1alpha1
// CertificateAuthority: it validates the spec, decides when a rotation is due
// (first publish, renewal, source change, manual rotate, revert), runs the
// staged rotation plan of internal/rotation in a leader-elected worker with its
// progress checkpointed in status.rotation, and reports conditions, events and
// Prometheus metrics. It never writes key material to logs, events, status or
// errors.
//
// Layout: Add (add.go) wires the Reconciler (reconciler.go), the Workers
// runnable (workers.go) and the metrics (metrics.go) into a manager. The rules
// are pure functions with table tests: ValidateSpec (validate.go), Decide
// (decide.go), Conditions (conditions.go), ConvergenceText (convergence.go)
// and Undeclared (inventory.go).
package certificateauthority
