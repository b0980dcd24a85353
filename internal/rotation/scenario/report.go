package scenario

import (
	"github.com/handover-dev/handover/internal/report"
)

// KindTrustRotation is report.Run.Kind of a rotation run.
const KindTrustRotation = "trust-rotation"

// ReportRun converts r to the report schema: the probe figures, the plan's
// outcome, and Metrics "plan_wall_ms", "restart_ms", "converged" (1 or 0),
// "last_failure_ms" (end of the last failed handshake after the plan's
// start; only when one failed) and (staged only) "floor_ms".
func (r Result) ReportRun() report.Run {
	run := report.NewRun(string(r.Strategy), KindTrustRotation, r.Summary)
	run.Outcome = string(r.Outcome)
	if run.Metrics == nil {
		run.Metrics = map[string]float64{}
	}
	run.Metrics["plan_wall_ms"] = float64(r.PlanWall.Microseconds()) / 1000
	run.Metrics["restart_ms"] = float64(r.RestartTime.Microseconds()) / 1000
	run.Metrics["converged"] = 0
	if r.Convergence.Converged {
		run.Metrics["converged"] = 1
	}
	if r.Summary.Failures > 0 {
		run.Metrics["last_failure_ms"] = float64(r.Convergence.LastFailure.Microseconds()) / 1000
	}
	run.PointOfNoReturn = r.PointOfNoReturn
	if r.Floor > 0 {
		run.Metrics["floor_ms"] = float64(r.Floor.Microseconds()) / 1000
	}
	return run
}
