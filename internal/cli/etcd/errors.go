package etcd

import "errors"

// ErrLeftoverMembers means: target members from an earlier migration run or
// keep data where a new migration would start its own.
var ErrLeftoverMembers = errors.New("members of an earlier migration are still there")
