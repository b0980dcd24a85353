package certificateauthority

import (
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// problemError carries a Problem through an error return.
type problemError struct{ p *Problem }

func (e *problemError) Error() string { return e.p.Error() }
func (e *problemError) Unwrap() error { return ErrBadInput }

func asProblem(err error, p **Problem) bool {
	var pe *problemError
	if errors.As(err, &pe) {
		*p = pe.p
		return true
	}
	return false
}

func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}
