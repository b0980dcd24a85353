package backend

import (
	"errors"

	"github.com/handover-dev/handover/internal/rotation"
)

// Sentinel errors; match with errors.Is.
var (
	// ErrInvalidSpec: the CertificateAuthority cannot be acted on; the
	// message names the field (e.g. spec.trustBundles[2].namespace).
	ErrInvalidSpec = errors.New("invalid certificate authority spec")
	// ErrNotFound: an object the spec names (a namespace, a workload) does
	// not exist; the message names the field.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: RBAC does not let this client write a target; the
	// message names the field and the verb.
	ErrForbidden = errors.New("forbidden")
	// ErrNotOwned: a target or leaf Secret exists without this
	// CertificateAuthority's ownership mark (v1alpha1.AnnotationOwner);
	// handover writes nothing. The message names the field and the object.
	ErrNotOwned = errors.New("not owned by this certificate authority")
	// ErrUnknownConsumer: a rotation.Consumer whose name is not in
	// spec.consumers.
	ErrUnknownConsumer = errors.New("unknown consumer")
	// ErrInvalidPayload: a bundle without certificate, or a leaf whose key
	// does not match it or that is a CA; nothing was written.
	ErrInvalidPayload = errors.New("invalid payload")
	// ErrPropagating: a consumer without a probe has not had the time (or
	// the restart) to pick up the latest publish yet.
	ErrPropagating = errors.New("waiting for propagation")
	// ErrRejected is rotation.ErrRejected: the consumer rejected the probe
	// certificate or presented a leaf from another CA.
	ErrRejected = rotation.ErrRejected
)
