package plan

import "time"

// EventKind names a phase mark emitted by the runner.
type EventKind string

// Event kinds, in the order a run emits them.
const (
	EventPlanStarted   EventKind = "PlanStarted"
	EventStepStarted   EventKind = "StepStarted"
	EventStepProgress  EventKind = "StepProgress" // a gate said NotYet; Reason carries progress
	EventStepDone      EventKind = "StepDone"
	EventStepFailed    EventKind = "StepFailed"
	EventStepReverting EventKind = "StepReverting"
	EventStepReverted  EventKind = "StepReverted"
	EventPlanEnded     EventKind = "PlanEnded" // Outcome is set
)

// Event is one phase mark. Time comes from the runner's injected clock.
type Event struct {
	Time    time.Time
	Plan    string
	Kind    EventKind
	Step    string // empty for plan-level events
	Index   int    // step index, -1 for plan-level events
	Reason  string
	Outcome Outcome // set on EventPlanEnded
}

// Observer receives phase marks synchronously, in order. It must not block
// for long (the probe recorder only stores the mark).
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }
