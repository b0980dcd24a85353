package probe

import (
	"sync"

	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/plan"
)

// Phase names the Recorder uses besides step names.
const (
	PhaseBaseline     = "baseline" // before the first phase mark
	PhaseAfter        = "after"    // after EventPlanEnded
	RevertPhasePrefix = "revert: " // + step name, from EventStepReverting
)

// rec is one stored sample: 24 bytes, so a 100k-sample run costs ~2.4 MB.
type rec struct {
	start   int64  // Sample.Start, Unix nanoseconds
	latency int64  // nanoseconds, >= 0
	target  uint32 // index into Recorder.targets
	class   uint32 // 0 = success, else 1 + index into Recorder.classes
}

func (r rec) ok() bool   { return r.class == 0 }
func (r rec) end() int64 { return r.start + r.latency }

// mark starts a phase at a given instant.
type mark struct {
	at   int64 // Unix nanoseconds
	name string
}

// Recorder collects samples (it is a Sink) and phase marks (it is a
// plan.Observer) and summarises them. Each sample is attributed to the phase
// running at its Start, whatever order samples and marks arrive in. All
// methods are safe for concurrent use.
type Recorder struct {
	clk clock.PassiveClock

	mu       sync.Mutex
	recs     []rec
	marks    []mark
	targets  []string
	targetIx map[string]uint32
	classes  []string
	classIx  map[string]uint32
	examples map[string]string // class -> first error message
	outcome  string
}

// NewRecorder returns an empty Recorder; clk stamps Mark calls (nil = real
// clock). Samples keep their own Start; events keep their own Time.
func NewRecorder(clk clock.PassiveClock) *Recorder {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Recorder{
		clk:      clk,
		targetIx: map[string]uint32{},
		classIx:  map[string]uint32{},
		examples: map[string]string{},
	}
}

// Add stores s. A sample with a nil Err is a success whatever its Class; a
// failed sample with an empty Class is classified with Classify.
func (r *Recorder) Add(s Sample) {
	var class string
	if s.Err != nil {
		class = s.Class
		if class == "" {
			class = Classify(s.Err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	x := rec{start: s.Start.UnixNano(), latency: max(int64(s.Latency), 0), target: r.internTarget(s.Target)}
	if class != "" {
		x.class = r.internClass(class) + 1
		if _, seen := r.examples[class]; !seen {
			r.examples[class] = s.Err.Error()
		}
	}
	r.recs = append(r.recs, x)
}

// Observe records the phase marks in e: EventStepStarted starts the phase
// named after the step, EventStepReverting starts "revert: <step>",
// EventPlanEnded starts "after" and records the outcome. Other kinds do not
// change the phase. A zero e.Time is replaced by the Recorder's clock.
func (r *Recorder) Observe(e plan.Event) {
	var name string
	switch e.Kind {
	case plan.EventStepStarted:
		name = e.Step
	case plan.EventStepReverting:
		name = RevertPhasePrefix + e.Step
	case plan.EventPlanEnded:
		name = PhaseAfter
	default:
		return
	}
	at := e.Time
	if at.IsZero() {
		at = r.clk.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marks = append(r.marks, mark{at: at.UnixNano(), name: name})
	if e.Kind == plan.EventPlanEnded {
		r.outcome = string(e.Outcome)
	}
}

// Mark starts phase name now (from the Recorder's clock), for runs not driven
// by the plan engine (e.g. the "atomic" strategy).
func (r *Recorder) Mark(phase string) {
	at := r.clk.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marks = append(r.marks, mark{at: at.UnixNano(), name: phase})
}

// Summary computes the figures over everything recorded so far; it may be
// called while probes still run. See Summary for the definitions.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	in := summaryInput{
		recs:     append([]rec(nil), r.recs...),
		marks:    append([]mark(nil), r.marks...),
		targets:  append([]string(nil), r.targets...),
		classes:  append([]string(nil), r.classes...),
		examples: make(map[string]string, len(r.examples)),
		outcome:  r.outcome,
	}
	for k, v := range r.examples {
		in.examples[k] = v
	}
	r.mu.Unlock()
	return summarize(in, DefaultMaxBins)
}

func (r *Recorder) internTarget(t string) uint32 {
	return intern(&r.targets, r.targetIx, t, OverflowTarget)
}

func (r *Recorder) internClass(c string) uint32 {
	return intern(&r.classes, r.classIx, c, OverflowClass)
}

// maxDistinct bounds the distinct targets (and classes) a Recorder keeps;
// further ones are counted under the overflow name.
const maxDistinct = 1 << 16

// Names that stand for every target or class beyond the first maxDistinct.
const (
	OverflowTarget = "(other targets)"
	OverflowClass  = "(other classes)"
)

func intern(list *[]string, ix map[string]uint32, s, overflow string) uint32 {
	if i, ok := ix[s]; ok {
		return i
	}
	n := len(*list)
	if n >= maxDistinct-1 && s != overflow {
		return intern(list, ix, overflow, overflow)
	}
	i := uint32(n & (maxDistinct - 1)) // n < maxDistinct: the overflow name takes the last slot
	*list = append(*list, s)
	ix[s] = i
	return i
}
