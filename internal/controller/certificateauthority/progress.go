package certificateauthority

import "github.com/handover-dev/handover/api/v1alpha1"

// ResumeProgress is NewProgress(gen, consumers) with each consumer that
// status lists on its recorded bundle generation (capped at gen) instead
// of gen: a rotation resumed by a restarted or new leader keeps showing a
// consumer as not converged until a handshake verifies it again. A
// consumer status does not list starts on gen (nothing is known against
// it, as before a rotation's first bundle step).
func ResumeProgress(gen int64, consumers []string, status []v1alpha1.ConsumerStatus) *Progress {
	p := NewProgress(gen, consumers)
	known := map[string]bool{}
	for _, c := range consumers {
		known[c] = true
	}
	for _, cs := range status {
		if known[cs.Name] && cs.BundleGeneration < gen {
			p.verified[cs.Name] = cs.BundleGeneration
		}
	}
	return p
}
