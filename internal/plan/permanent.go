package plan

import "errors"

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the Runner does not retry the Apply or Revert
// that returned it (like controller-runtime's reconcile.TerminalError). The
// message is unchanged and errors.Is/As still see err. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked with
// Permanent. IsPermanent(nil) is false.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
