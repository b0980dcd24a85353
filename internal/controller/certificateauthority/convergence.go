package certificateauthority

import (
	"fmt"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Convergence returns per-consumer status and the summary text for the
// consumers named in order: a consumer is on generation gen when
// verified[name] >= gen (verified is the bundle generation a live
// verification or a passed gate last showed it on; absent = 0). Pure.
func Convergence(names []string, verified map[string]int64, gen int64) ([]v1alpha1.ConsumerStatus, string) {
	out := make([]v1alpha1.ConsumerStatus, 0, len(names))
	n := 0
	for _, name := range names {
		g := verified[name]
		cs := v1alpha1.ConsumerStatus{Name: name, BundleGeneration: g}
		if g >= gen {
			n++
		} else {
			cs.Message = fmt.Sprintf("not verified on generation %d yet", gen)
		}
		out = append(out, cs)
	}
	return out, ConvergenceText(n, len(names), gen)
}

// ConvergenceText reads "3/4 consumers on generation 5" ("no consumers
// declared" when total is 0). Pure.
func ConvergenceText(converged, total int, gen int64) string {
	if total == 0 {
		return "no consumers declared"
	}
	return fmt.Sprintf("%d/%d consumers on generation %d", converged, total, gen)
}
