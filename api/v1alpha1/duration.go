package v1alpha1

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a Go duration string ("90s", "1h30m", "8760h") that decodes
// leniently. The apiserver rejects a malformed one (the CRD's pattern and
// CEL rules), but an object stored before those rules existed (or written
// straight to etcd) must not make the controller's whole list fail to
// decode, as metav1.Duration would ("time: invalid duration"): Duration
// keeps such a text, reads as 0 and reports it through Err, so validation
// turns it into a condition on that one object.
//
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
type Duration struct {
	// Duration is the parsed value; 0 when the stored text is invalid.
	Duration time.Duration `json:"-"`
	// InvalidText is the stored text when it is not a Go duration; "" when
	// valid. Exported (but never serialised as a field) so that reflection
	// based comparisons (apimachinery's equality.Semantic) can read it.
	InvalidText string `json:"-"`
}

// NewDuration returns a valid Duration of d.
func NewDuration(d time.Duration) *Duration { return &Duration{Duration: d} }

// Err is nil for a valid duration, else an error quoting the stored text
// (never anything else of the object).
func (d *Duration) Err() error {
	if d == nil || d.InvalidText == "" {
		return nil
	}
	return fmt.Errorf("%q is not a duration (Go syntax, e.g. 90s, 1h30m, 8760h)", d.InvalidText)
}

// Invalid returns the stored text of an invalid duration, "" when valid.
func (d *Duration) Invalid() string {
	if d == nil {
		return ""
	}
	return d.InvalidText
}

// String is the Go form of the duration, or the stored invalid text.
func (d Duration) String() string {
	if d.InvalidText != "" {
		return d.InvalidText
	}
	return d.Duration.String()
}

// MarshalJSON writes the duration as a string (the stored text when it is
// invalid, so a round trip through the controller changes nothing).
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON never fails on a string: a text time.ParseDuration rejects
// is kept and reported by Err. A JSON value that is not a string is an
// error, as for metav1.Duration.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration{}
	if s == "" {
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.InvalidText = s
		return nil
	}
	d.Duration = v
	return nil
}

// ToUnstructured lets the apimachinery converter use the string form.
func (d Duration) ToUnstructured() any { return d.String() }
