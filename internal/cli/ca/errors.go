package ca

import "errors"

// Sentinel errors of the cluster verbs (plan, status, rotate, revert); the
// kubeconfig and API errors are kubeflags' sentinels.
var (
	// ErrWaitTimeout: --wait gave up before the rotation ended.
	ErrWaitTimeout = errors.New("timed out waiting for the rotation")
	// ErrRotationFailed: the rotation ended RolledBack or Failed.
	ErrRotationFailed = errors.New("rotation did not succeed")
	// ErrNothingToRevert: no rotation is running and no previous CA is known.
	ErrNothingToRevert = errors.New("nothing to revert")
	// ErrInputTooLarge: an input file is larger than MaxInputBytes.
	ErrInputTooLarge = errors.New("input is too large for a PEM file")
	// ErrNotAFile: an input path is a device, directory or socket.
	ErrNotAFile = errors.New("not a regular file or pipe")
)
