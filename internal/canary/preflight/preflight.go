// Package preflight is the controller canary's version-skew preflight: pure
// checks that the CRDs the canary brings (or the cluster has now) keep
// serving what the stable revision reads, that stored versions stay
// served, that an incompatible schema change has a conversion, and that the
// two revisions do not share a leader-election lock. The checks change
// nothing; `handover canary preflight` and the canary plan run them.
package preflight

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Severity of a finding.
type Severity string

const (
	// Refuse means the canary must not start (or be promoted) with this set.
	Refuse Severity = "Refuse"
	// Warn means the check could not be made or is advisory.
	Warn Severity = "Warn"
	// OK means the check passed.
	OK Severity = "OK"
)

// Finding is one result of a check.
type Finding struct {
	Severity Severity `json:"severity"`
	// Object is what the finding is about, e.g.
	// "CustomResourceDefinition routes.sample.handover.dev" or
	// "ControllerCanary x".
	Object string `json:"object"`
	// Field is the field path, e.g. "spec.versions[v1].served".
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%-6s %s", f.Severity, f.Object)
	if f.Field != "" {
		s += " " + f.Field
	}
	return s + ": " + f.Message
}

// Refused returns the findings of severity Refuse.
func Refused(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity == Refuse {
			out = append(out, f)
		}
	}
	return out
}

// Check runs every check of the version-skew preflight for cc: live are the
// CRDs in the cluster now, proposed the CRDs the canary's release applies
// (for a check of the cluster as it is, pass live twice). A proposed CRD
// replaces the live one of the same name; live CRDs not proposed stay.
//
//   - Leader election: spec.stable.leaderElectionLock and
//     spec.canary.leaderElectionLock must differ (Refuse), and both be set
//     (Warn otherwise); the identities must differ (Refuse).
//   - Served versions: every spec.stable.apiVersions entry whose group a CRD
//     defines must be a version that CRD (after the change) serves.
//   - Stored versions: every version in a live CRD's status.storedVersions
//     must stay served (objects are stored at it until migrated).
//   - Schemas: for each version V the stable revision reads, V's live schema
//     against V's new one (SchemaBreaks with writes: an in-place change
//     breaks the stable revision whatever the conversion), and against every
//     other version the new CRD serves (objects the canary writes at it are
//     read by the stable revision at V): an incompatible difference needs
//     spec.conversion.strategy Webhook.
//
// Findings are ordered by object, then field. Pure.
func Check(cc *v1alpha1.ControllerCanary, live, proposed []apiextensionsv1.CustomResourceDefinition) []Finding {
	var fs []Finding
	fs = append(fs, checkLeaderElection(cc)...)
	liveBy := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for i := range live {
		liveBy[live[i].Name] = &live[i]
	}
	after := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for name, c := range liveBy {
		after[name] = c
	}
	for i := range proposed {
		after[proposed[i].Name] = &proposed[i]
	}
	reads := map[string][]string{} // group -> versions the stable revision reads
	for _, gv := range cc.Spec.Stable.APIVersions {
		g, err := schema.ParseGroupVersion(gv)
		if err != nil {
			fs = append(fs, Finding{Severity: Refuse, Object: "ControllerCanary " + cc.Name, Field: "spec.stable.apiVersions", Message: fmt.Sprintf("%q is not group/version: %v", gv, err)})
			continue
		}
		reads[g.Group] = append(reads[g.Group], g.Version)
	}
	names := make([]string, 0, len(after))
	for n := range after {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fs = append(fs, checkCRD(cc, liveBy[n], after[n], reads[after[n].Spec.Group])...)
	}
	return fs
}

func checkLeaderElection(cc *v1alpha1.ControllerCanary) []Finding {
	obj := "ControllerCanary " + cc.Name
	s, c := cc.Spec.Stable, cc.Spec.Canary
	var fs []Finding
	if s.Identity == c.Identity {
		fs = append(fs, Finding{Severity: Refuse, Object: obj, Field: "spec.canary.identity", Message: fmt.Sprintf("both revisions authenticate as %q: enforcement cannot tell them apart", c.Identity)})
	}
	switch {
	case s.LeaderElectionLock == "" || c.LeaderElectionLock == "":
		fs = append(fs, Finding{Severity: Warn, Object: obj, Field: "spec.{stable,canary}.leaderElectionLock", Message: "not declared for both revisions: cannot check that they use different leader-election locks"})
	case s.LeaderElectionLock == c.LeaderElectionLock:
		fs = append(fs, Finding{Severity: Refuse, Object: obj, Field: "spec.canary.leaderElectionLock", Message: fmt.Sprintf("both revisions use the lock %s: the canary would wait for, or take, the stable revision's leadership", c.LeaderElectionLock)})
	default:
		fs = append(fs, Finding{Severity: OK, Object: obj, Field: "spec.{stable,canary}.leaderElectionLock", Message: fmt.Sprintf("different locks (%s, %s)", s.LeaderElectionLock, c.LeaderElectionLock)})
	}
	return fs
}

// checkCRD checks one CRD: old is the live CRD (nil when new), nw the CRD
// after the change, reads the versions of its group the stable revision
// reads.
func checkCRD(cc *v1alpha1.ControllerCanary, old, nw *apiextensionsv1.CustomResourceDefinition, reads []string) []Finding {
	obj := "CustomResourceDefinition " + nw.Name
	var fs []Finding
	served := map[string]*apiextensionsv1.CustomResourceDefinitionVersion{}
	for i := range nw.Spec.Versions {
		if nw.Spec.Versions[i].Served {
			served[nw.Spec.Versions[i].Name] = &nw.Spec.Versions[i]
		}
	}
	for _, v := range reads {
		if served[v] == nil {
			fs = append(fs, Finding{Severity: Refuse, Object: obj, Field: fmt.Sprintf("spec.versions[%s].served", v),
				Message: fmt.Sprintf("version %s is read by the stable revision %s (spec.stable.apiVersions %s/%s) and would no longer be served", v, cc.Spec.Stable.Revision, nw.Spec.Group, v)})
		} else {
			fs = append(fs, Finding{Severity: OK, Object: obj, Field: fmt.Sprintf("spec.versions[%s].served", v), Message: fmt.Sprintf("version %s, read by the stable revision, stays served", v)})
		}
	}
	if old == nil {
		return fs
	}
	for _, v := range old.Status.StoredVersions {
		if served[v] == nil {
			fs = append(fs, Finding{Severity: Refuse, Object: obj, Field: "status.storedVersions",
				Message: fmt.Sprintf("objects are stored at version %s (status.storedVersions %v) and it would no longer be served: migrate the stored objects and storedVersions first", v, old.Status.StoredVersions)})
		}
	}
	strategy := apiextensionsv1.NoneConverter
	if nw.Spec.Conversion != nil && nw.Spec.Conversion.Strategy != "" {
		strategy = nw.Spec.Conversion.Strategy
	}
	for _, v := range reads {
		ov := version(old, v)
		if ov == nil || served[v] == nil {
			continue
		}
		if breaks := SchemaBreaks(schemaOf(ov), schemaOf(served[v]), true); len(breaks) > 0 {
			fs = append(fs, Finding{Severity: Refuse, Object: obj, Field: fmt.Sprintf("spec.versions[%s].schema", v),
				Message: fmt.Sprintf("version %s, read by the stable revision, changed incompatibly in place (%s): no conversion can help; serve the change as a new version", v, strings.Join(breaks, "; "))})
		}
		others := make([]string, 0, len(served))
		for w := range served {
			if w != v {
				others = append(others, w)
			}
		}
		sort.Strings(others)
		for _, w := range others {
			breaks := SchemaBreaks(schemaOf(ov), schemaOf(served[w]), false)
			if len(breaks) == 0 {
				continue
			}
			if strategy == apiextensionsv1.WebhookConverter {
				fs = append(fs, Finding{Severity: OK, Object: obj, Field: "spec.conversion.strategy",
					Message: fmt.Sprintf("version %s differs incompatibly from %s (%s); the Webhook conversion must translate", w, v, strings.Join(breaks, "; "))})
				continue
			}
			fs = append(fs, Finding{Severity: Refuse, Object: obj, Field: "spec.conversion.strategy",
				Message: fmt.Sprintf("version %s differs incompatibly from %s, which the stable revision reads (%s), and the conversion strategy is %s: objects written at %s would reach the stable revision unconverted; set spec.conversion.strategy Webhook", w, v, strings.Join(breaks, "; "), strategy, w)})
		}
	}
	return fs
}

func version(c *apiextensionsv1.CustomResourceDefinition, name string) *apiextensionsv1.CustomResourceDefinitionVersion {
	i := slices.IndexFunc(c.Spec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return v.Name == name })
	if i < 0 {
		return nil
	}
	return &c.Spec.Versions[i]
}

func schemaOf(v *apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.JSONSchemaProps {
	if v.Schema == nil {
		return nil
	}
	return v.Schema.OpenAPIV3Schema
}
