package plan

import "testing"

func TestDescribe(t *testing.T) {
	t.Parallel()
	log := &callLog{}
	s := func(n string) *testStep { return &testStep{name: n, log: log} }
	for _, tc := range []struct {
		name string
		plan *Plan
		want string
	}{
		{"nil", nil, ""},
		{"empty", &Plan{Name: "noop"}, "plan \"noop\": 0 steps\n  (no steps)\n"},
		{
			"mixed",
			&Plan{Name: "rotate-trust", PointOfNoReturn: 2, Steps: []Step{
				describedStep{s("add-ca"), "add the new CA to every bundle"},
				describedStep{s("reissue"), "issue leaves from the new CA\nrestart consumers one by one\n"},
				s("drop-old-ca"),
			}},
			`plan "rotate-trust": 3 steps
  1. add-ca: add the new CA to every bundle
  2. reissue: issue leaves from the new CA
     restart consumers one by one
  --- point of no return: the steps below are not reverted ---
  3. drop-old-ca
`,
		},
		{
			"all revertible",
			&Plan{Name: "canary", PointOfNoReturn: 1, Steps: []Step{describedStep{s("scale"), ""}}},
			"plan \"canary\": 1 step\n  1. scale\n  (every step can be reverted)\n",
		},
		{
			"none revertible",
			&Plan{Name: "cut", PointOfNoReturn: 0, Steps: []Step{s("a"), s("b")}},
			"plan \"cut\": 2 steps\n  --- point of no return: the steps below are not reverted ---\n  1. a\n  2. b\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Describe(tc.plan)
			if got != tc.want {
				t.Errorf("Describe:\n%s\nwant:\n%s", got, tc.want)
			}
			if again := Describe(tc.plan); again != got {
				t.Errorf("Describe is not deterministic")
			}
		})
	}
}
