package preflight

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func obj(props map[string]apiextensionsv1.JSONSchemaProps, required ...string) *apiextensionsv1.JSONSchemaProps {
	return &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props, Required: required}
}

func str() apiextensionsv1.JSONSchemaProps { return apiextensionsv1.JSONSchemaProps{Type: "string"} }
func num() apiextensionsv1.JSONSchemaProps { return apiextensionsv1.JSONSchemaProps{Type: "integer"} }

func TestSchemaBreaks(t *testing.T) {
	t.Parallel()
	base := obj(map[string]apiextensionsv1.JSONSchemaProps{"spec": *obj(map[string]apiextensionsv1.JSONSchemaProps{"host": str(), "size": num(),
		"ports": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"port": num()})}}})})
	cases := []struct {
		name   string
		to     *apiextensionsv1.JSONSchemaProps
		writes bool
		want   []string
	}{
		{name: "identical", to: base},
		{name: "added field", to: obj(map[string]apiextensionsv1.JSONSchemaProps{"spec": *obj(map[string]apiextensionsv1.JSONSchemaProps{"host": str(), "size": num(), "extra": str(),
			"ports": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"port": num()})}}})})},
		{name: "removed field", to: obj(map[string]apiextensionsv1.JSONSchemaProps{"spec": *obj(map[string]apiextensionsv1.JSONSchemaProps{"host": str(),
			"ports": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"port": num()})}}})}), want: []string{"removed .spec.size"}},
		{name: "changed type in an array item", to: obj(map[string]apiextensionsv1.JSONSchemaProps{"spec": *obj(map[string]apiextensionsv1.JSONSchemaProps{"host": str(), "size": num(),
			"ports": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"port": str()})}}})}), want: []string{"type of .spec.ports[].port changed integer → string"}},
		{name: "removed into preserve-unknown-fields is kept", to: obj(map[string]apiextensionsv1.JSONSchemaProps{"spec": {Type: "object", XPreserveUnknownFields: ptr.To(true)}})},
		{name: "newly required counts for writers", writes: true, to: obj(map[string]apiextensionsv1.JSONSchemaProps{"spec": *obj(map[string]apiextensionsv1.JSONSchemaProps{"host": str(), "size": num(),
			"ports": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"port": num()})}}}, "host")}), want: []string{"newly required .spec.host"}},
		{name: "newly required ignored for readers", to: obj(map[string]apiextensionsv1.JSONSchemaProps{"spec": *obj(map[string]apiextensionsv1.JSONSchemaProps{"host": str(), "size": num(),
			"ports": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"port": num()})}}}, "host")})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := SchemaBreaks(base, c.to, c.writes)
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Fatalf("SchemaBreaks = %q, want %q", got, c.want)
			}
		})
	}
}

// crd is a CRD of group test.handover.dev with the given versions (name,
// served, storage, spec schema) and storedVersions.
func crd(stored []string, strategy apiextensionsv1.ConversionStrategyType, vs ...apiextensionsv1.CustomResourceDefinitionVersion) apiextensionsv1.CustomResourceDefinition {
	c := apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.test.handover.dev"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "test.handover.dev", Versions: vs, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"}},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{StoredVersions: stored},
	}
	if strategy != "" {
		c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: strategy}
	}
	return c
}

func ver(name string, served, storage bool, spec *apiextensionsv1.JSONSchemaProps) apiextensionsv1.CustomResourceDefinitionVersion {
	return apiextensionsv1.CustomResourceDefinitionVersion{Name: name, Served: served, Storage: storage,
		Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"spec": *spec})}}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	v1Spec := obj(map[string]apiextensionsv1.JSONSchemaProps{"size": num()})
	v2Added := obj(map[string]apiextensionsv1.JSONSchemaProps{"size": num(), "color": str()})
	v2Typed := obj(map[string]apiextensionsv1.JSONSchemaProps{"size": str()})
	live := crd([]string{"v1"}, "", ver("v1", true, true, v1Spec))
	canaryWith := func(apiVersions []string, stableLock, canaryLock string) *v1alpha1.ControllerCanary {
		return &v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: "widgets"}, Spec: v1alpha1.ControllerCanarySpec{
			Stable: v1alpha1.ControllerVersion{Revision: "v1", Identity: "a", APIVersions: apiVersions, LeaderElectionLock: stableLock},
			Canary: v1alpha1.ControllerVersion{Revision: "v2", Identity: "b", LeaderElectionLock: canaryLock}}}
	}
	reads := []string{"test.handover.dev/v1"}
	cases := []struct {
		name     string
		cc       *v1alpha1.ControllerCanary
		proposed []apiextensionsv1.CustomResourceDefinition
		refuse   []string // substrings, one per expected Refuse finding
	}{
		{name: "unchanged", cc: canaryWith(reads, "ns/a", "ns/b"), proposed: []apiextensionsv1.CustomResourceDefinition{live}},
		{name: "compatible new version", cc: canaryWith(reads, "ns/a", "ns/b"), proposed: []apiextensionsv1.CustomResourceDefinition{crd(nil, "", ver("v1", true, false, v1Spec), ver("v2", true, true, v2Added))}},
		{name: "drops the version stable reads", cc: canaryWith(reads, "ns/a", "ns/b"), proposed: []apiextensionsv1.CustomResourceDefinition{crd(nil, "", ver("v1", false, false, v1Spec), ver("v2", true, true, v2Added))},
			refuse: []string{"version v1 is read by the stable revision v1 (spec.stable.apiVersions test.handover.dev/v1) and would no longer be served", "objects are stored at version v1"}},
		{name: "incompatible new version without conversion", cc: canaryWith(reads, "ns/a", "ns/b"), proposed: []apiextensionsv1.CustomResourceDefinition{crd(nil, "", ver("v1", true, false, v1Spec), ver("v2", true, true, v2Typed))},
			refuse: []string{"version v2 differs incompatibly from v1, which the stable revision reads (type of .spec.size changed integer → string), and the conversion strategy is None"}},
		{name: "incompatible new version with a conversion webhook", cc: canaryWith(reads, "ns/a", "ns/b"), proposed: []apiextensionsv1.CustomResourceDefinition{crd(nil, apiextensionsv1.WebhookConverter, ver("v1", true, false, v1Spec), ver("v2", true, true, v2Typed))}},
		{name: "in-place change of the version stable reads", cc: canaryWith(reads, "ns/a", "ns/b"), proposed: []apiextensionsv1.CustomResourceDefinition{crd(nil, apiextensionsv1.WebhookConverter, ver("v1", true, true, v2Typed))},
			refuse: []string{"version v1, read by the stable revision, changed incompatibly in place (type of .spec.size changed integer → string)"}},
		{name: "stable reads nothing of the group: only stored versions matter", cc: canaryWith(nil, "ns/a", "ns/b"), proposed: []apiextensionsv1.CustomResourceDefinition{crd(nil, "", ver("v1", true, false, v1Spec), ver("v2", true, true, v2Typed))}},
		{name: "shared leader-election lock", cc: canaryWith(reads, "ns/lock", "ns/lock"), proposed: []apiextensionsv1.CustomResourceDefinition{live},
			refuse: []string{"both revisions use the lock ns/lock"}},
		{name: "bad apiVersions entry", cc: canaryWith([]string{"a/b/c"}, "ns/a", "ns/b"), proposed: []apiextensionsv1.CustomResourceDefinition{live},
			refuse: []string{`"a/b/c" is not group/version`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := Refused(Check(c.cc, []apiextensionsv1.CustomResourceDefinition{live}, c.proposed))
			if len(got) != len(c.refuse) {
				t.Fatalf("refused %v, want %d finding(s) %q", got, len(c.refuse), c.refuse)
			}
			for i, want := range c.refuse {
				if !strings.Contains(got[i].Message, want) {
					t.Fatalf("finding %d %q, want it to contain %q", i, got[i].Message, want)
				}
			}
		})
	}
	t.Run("same identity", func(t *testing.T) {
		t.Parallel()
		cc := canaryWith(nil, "", "")
		cc.Spec.Canary.Identity = cc.Spec.Stable.Identity
		fs := Check(cc, nil, nil)
		if r := Refused(fs); len(r) != 1 || r[0].Field != "spec.canary.identity" {
			t.Fatalf("refused %v, want the identity", r)
		}
		if fs[len(fs)-1].Severity != Warn {
			t.Fatalf("undeclared locks: %v, want a warning", fs)
		}
	})
}
