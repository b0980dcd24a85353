package preflight

import (
	"fmt"
	"slices"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// SchemaBreaks lists how a client that reads or writes objects by schema
// from breaks on objects of schema to: a property of from that to no longer
// has ("removed .spec.size"), a property whose type changed ("type of
// .spec.size changed integer → string"), and, when writes is set, a
// property to requires that from did not ("newly required .spec.port": the
// old client's writes are refused). Additions are compatible. A property
// under x-kubernetes-preserve-unknown-fields in to is kept, not removed.
// Paths are JSON paths from the object's root, sorted. Pure.
func SchemaBreaks(from, to *apiextensionsv1.JSONSchemaProps, writes bool) []string {
	var out []string
	walk(from, to, "", writes, &out)
	sort.Strings(out)
	return out
}

func walk(from, to *apiextensionsv1.JSONSchemaProps, path string, writes bool, out *[]string) {
	if from == nil || to == nil {
		return
	}
	name := path
	if name == "" {
		name = "."
	}
	if from.Type != "" && to.Type != "" && from.Type != to.Type {
		*out = append(*out, fmt.Sprintf("type of %s changed %s → %s", name, from.Type, to.Type))
		return
	}
	for p, fp := range from.Properties {
		tp, ok := to.Properties[p]
		if !ok {
			if to.XPreserveUnknownFields == nil || !*to.XPreserveUnknownFields {
				*out = append(*out, fmt.Sprintf("removed %s.%s", path, p))
			}
			continue
		}
		walk(&fp, &tp, path+"."+p, writes, out)
	}
	if writes {
		for _, r := range to.Required {
			if !slices.Contains(from.Required, r) {
				*out = append(*out, fmt.Sprintf("newly required %s.%s", path, r))
			}
		}
	}
	if from.Items != nil && to.Items != nil && from.Items.Schema != nil && to.Items.Schema != nil {
		walk(from.Items.Schema, to.Items.Schema, path+"[]", writes, out)
	}
	if from.AdditionalProperties != nil && to.AdditionalProperties != nil && from.AdditionalProperties.Schema != nil && to.AdditionalProperties.Schema != nil {
		walk(from.AdditionalProperties.Schema, to.AdditionalProperties.Schema, path+"[*]", writes, out)
	}
}
