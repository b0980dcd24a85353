package report

import "errors"

// Sentinel errors; match with errors.Is.
var (
	// ErrSchema means a document's "schema" is not Schema.
	ErrSchema = errors.New("unsupported report schema")
	// ErrInvalidReport means a report misses a required field or has an
	// out-of-range value; the wrapping error names the run and field.
	ErrInvalidReport = errors.New("invalid report")
)
