package plan_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/handover-dev/handover/internal/plan"
)

// flag is a step whose effect is a boolean in memory.
type flag struct {
	name string
	on   *bool
}

func (f flag) Name() string                 { return f.name }
func (f flag) Apply(context.Context) error  { *f.on = true; return nil }
func (f flag) Revert(context.Context) error { *f.on = false; return nil }
func (f flag) Describe() string             { return "turn " + f.name + " on" }
func (f flag) Check(context.Context) plan.Result {
	if *f.on {
		return plan.Done()
	}
	return plan.NotYet(f.name + " is still off")
}

func ExampleRunner() {
	var a, b bool
	p := &plan.Plan{
		Name:            "demo",
		Steps:           []plan.Step{flag{"a", &a}, flag{"b", &b}},
		PointOfNoReturn: 1, // a can be reverted, b cannot
	}
	r := &plan.Runner{
		Checkpoint: &plan.MemoryCheckpoint{},
		Observers: []plan.Observer{plan.ObserverFunc(func(e plan.Event) {
			fmt.Println(strings.TrimSpace(string(e.Kind) + " " + e.Step))
		})},
	}
	st, err := r.Run(context.Background(), p)
	fmt.Println(st.Outcome, err, a, b)
	// Output:
	// PlanStarted
	// StepStarted a
	// StepDone a
	// StepStarted b
	// StepDone b
	// PlanEnded
	// Succeeded <nil> true true
}

func ExampleDescribe() {
	var a, b bool
	p := &plan.Plan{Name: "demo", Steps: []plan.Step{flag{"a", &a}, flag{"b", &b}}, PointOfNoReturn: 1}
	fmt.Print(plan.Describe(p))
	// Output:
	// plan "demo": 2 steps
	//   1. a: turn a on
	//   --- point of no return: the steps below are not reverted ---
	//   2. b: turn b on
}
