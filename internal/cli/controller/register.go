package controller

import (
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/handover-dev/handover/internal/controller/certificateauthority"
)

// registerCertificateAuthority adds the CertificateAuthority controller, its
// leader-elected rotation workers and its metrics (certificateauthority.Add)
// with the real clock.
func registerCertificateAuthority(mgr manager.Manager, o ControllerOptions) error {
	return certificateauthority.Add(mgr, certificateauthority.Options{
		PollInterval:            o.PollInterval,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		Resync:                  o.Resync,
	})
}
