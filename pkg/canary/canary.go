// Package canary is the public library for controllers that cooperate with a
// handover ControllerCanary: a controller-runtime manager that sees only the
// objects its revision owns, so it neither reconciles nor is denied on the
// other version's objects.
//
// Ownership is the label handover.dev/controller-revision on main objects
// (no label = the stable revision). Children (objects with a controller
// ownerReference) carry no label; they follow their owner, which handover's
// webhook enforces, so a cooperative controller keeps watching them
// unfiltered.
//
// Without this package a controller still works under a canary (enforcement
// needs no change to it); it only wastes reconciles on objects it may not
// write.
package canary

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LabelControllerRevision is the ownership label (the same key as
// handover's api/v1alpha1.LabelControllerRevision; repeated here so
// controllers need not import handover's API module).
const LabelControllerRevision = "handover.dev/controller-revision"

// Revision says which revision a controller process runs.
type Revision struct {
	// Name is this process's revision (ControllerVersion.Revision).
	Name string
	// Stable is true for the stable version: it owns every object that is
	// not labelled with another revision.
	Stable bool
	// Others are the other revisions' names (the canary's, for the stable
	// version); a stable version must not see objects labelled with them.
	Others []string
}

// Selector returns the label selector of the objects r owns: for the stable
// version "label notin (others)" (which matches unlabelled objects too), for
// a canary "label = name".
func (r Revision) Selector() labels.Selector {
	if r.Stable {
		req, err := labels.NewRequirement(LabelControllerRevision, selection.NotIn, append([]string{}, r.Others...))
		if err != nil || len(r.Others) == 0 {
			return labels.Everything()
		}
		return labels.NewSelector().Add(*req)
	}
	req, err := labels.NewRequirement(LabelControllerRevision, selection.Equals, []string{r.Name})
	if err != nil {
		return labels.Nothing()
	}
	return labels.NewSelector().Add(*req)
}

// CacheOptions returns a copy of base whose ByObject entries for each of
// mainObjects (e.g. &Route{}) select only what r owns. An object that is
// relabelled away leaves the cache as a watch DELETE, as in
// kubernetes-controller-sharding. Existing ByObject entries of other types
// are kept; an existing entry for a main object keeps its other fields.
func CacheOptions(base cache.Options, r Revision, mainObjects ...client.Object) cache.Options {
	out := base
	out.ByObject = make(map[client.Object]cache.ByObject, len(base.ByObject)+len(mainObjects))
	for k, v := range base.ByObject {
		out.ByObject[k] = v
	}
	sel := r.Selector()
	for _, o := range mainObjects {
		bo := out.ByObject[o]
		bo.Label = sel
		out.ByObject[o] = bo
	}
	return out
}

// LeaderElectionID returns base suffixed with the revision, so two versions
// never contend for (or share) one lock: each version runs its own leader.
func LeaderElectionID(base string, r Revision) string { return base + "-" + r.Name }
