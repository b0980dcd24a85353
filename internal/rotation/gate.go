package rotation

import (
	"fmt"
	"strings"

	"github.com/handover-dev/handover/internal/plan"
)

// maxNamed bounds how many lagging consumers a NotYet reason names.
const maxNamed = 3

// Verdict is one consumer's answer to a verification: OK or why not.
type Verdict struct {
	Consumer string
	OK       bool
	Reason   string // why not; never key material
}

// Gate turns the verdicts of one verification into a gate result: Done when
// every consumer passed, NotYet "k/n consumers <what>; waiting for a, b, c"
// otherwise, followed by why the first lagging consumer did not pass
// ("; a: dial: dial tcp 10.0.0.1:8081: connect: connection refused") so a
// stuck rotation says what is wrong (propagation takes time; the step
// timeout decides when waiting becomes a rollback), Failed when there is no
// consumer to verify (a backend that lists nothing cannot prove anything).
// It is pure.
func Gate(what string, vs []Verdict) plan.Result {
	if len(vs) == 0 {
		return plan.Failed("no consumer to verify: the backend lists none")
	}
	var lagging []string
	why := ""
	for _, v := range vs {
		if !v.OK {
			lagging = append(lagging, v.Consumer)
			if why == "" && v.Reason != "" {
				why = "; " + v.Consumer + ": " + v.Reason
			}
		}
	}
	if len(lagging) == 0 {
		return plan.Done()
	}
	named := lagging
	more := ""
	if len(named) > maxNamed {
		named, more = named[:maxNamed], fmt.Sprintf(" and %d more", len(lagging)-maxNamed)
	}
	return plan.NotYet(fmt.Sprintf("%d/%d consumers %s; waiting for %s%s%s",
		len(vs)-len(lagging), len(vs), what, strings.Join(named, ", "), more, why))
}
