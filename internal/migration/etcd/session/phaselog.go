package session

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/plan"
)

// PhaseLog is a plan.Observer that writes one line per step start, end,
// failure and revert, and a progress bar for NotYet gates that report a
// percentage (catch-up), at most once per second per step.
type PhaseLog struct {
	w     io.Writer
	clk   clock.PassiveClock
	mu    sync.Mutex
	start time.Time
	last  map[string]time.Time
}

// NewPhaseLog returns a PhaseLog writing to w.
func NewPhaseLog(w io.Writer, clk clock.PassiveClock) *PhaseLog {
	return &PhaseLog{w: w, clk: clk, last: map[string]time.Time{}}
}

var pctRE = regexp.MustCompile(`\((\d+)%\)`)

// Bar renders a 20-cell progress bar for pct (clamped to 0..100).
func Bar(pct int) string {
	pct = max(0, min(pct, 100))
	n := pct / 5
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", 20-n) + "]"
}

// Observe writes e.
func (l *PhaseLog) Observe(e plan.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = e.Time
	}
	ts := fmt.Sprintf("[%6.1fs]", e.Time.Sub(l.start).Seconds())
	var line string
	switch e.Kind {
	case plan.EventPlanStarted:
		line = "plan " + e.Plan + " started"
		if e.Reason != "" {
			line += " (" + e.Reason + ")"
		}
	case plan.EventStepStarted:
		line = "▶ " + e.Step
	case plan.EventStepDone:
		line = "✓ " + e.Step
	case plan.EventStepFailed:
		line = "✗ " + e.Step + ": " + e.Reason
	case plan.EventStepReverting:
		line = "↩ reverting " + e.Step
	case plan.EventStepReverted:
		line = "↩ reverted " + e.Step
	case plan.EventPlanEnded:
		line = "plan ended: " + string(e.Outcome)
		if e.Reason != "" {
			line += ": " + e.Reason
		}
	case plan.EventStepProgress:
		if t, ok := l.last[e.Step]; ok && e.Time.Sub(t) < time.Second {
			return
		}
		l.last[e.Step] = e.Time
		line = "  " + e.Step + " "
		if m := pctRE.FindStringSubmatch(e.Reason); m != nil {
			pct, _ := strconv.Atoi(m[1])
			line += Bar(pct) + " "
		}
		line += e.Reason
	default:
		return
	}
	_, _ = fmt.Fprintln(l.w, ts, line)
}
