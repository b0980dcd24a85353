package canary

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary/canarytest"
	"github.com/handover-dev/handover/internal/canary/sample"
)

func widgetVersion(name string, served, storage bool, props map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.CustomResourceDefinitionVersion {
	return apiextensionsv1.CustomResourceDefinitionVersion{Name: name, Served: served, Storage: storage,
		Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object",
			Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": {Type: "object", Properties: props}}}}}
}

func widgets(strategy apiextensionsv1.ConversionStrategyType, vs ...apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.CustomResourceDefinition {
	c := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.test.handover.dev"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "test.handover.dev", Versions: vs, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"}},
	}
	if strategy != "" {
		c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: strategy}
	}
	return c
}

// TestPreflightOnRealAPIServer: `handover canary preflight --crds`, run by a
// user who may read ControllerCanaries and CRDs and dry-run CRD writes,
// refuses with the reason a CRD set that stops serving the version the
// stable revision reads and one with an incompatible schema change without
// conversion, passes a compatible set, and changes nothing.
func TestPreflightOnRealAPIServer(t *testing.T) {
	cfg, c := canarytest.StartAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := apiextensionsv1.AddToScheme(c.Scheme()); err != nil {
		t.Fatal(err)
	}
	size := map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "integer"}}
	live := widgets("", widgetVersion("v1", true, true, size))
	if err := c.Create(ctx, live); err != nil {
		t.Fatal(err)
	}
	const user = "preflight-runner"
	kc := kubeconfigAs(ctx, t, cfg, c, user,
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"controllercanaries"}, Verbs: []string{"get"}},
			{APIGroups: []string{apiextensionsv1.GroupName}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get", "list", "create", "update"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}},
		&v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: "widgets"}, Spec: v1alpha1.ControllerCanarySpec{
			Stable:    v1alpha1.ControllerVersion{Revision: "v1", Identity: "widget-v1", APIVersions: []string{"test.handover.dev/v1"}, LeaderElectionLock: "widgets/widget-controller"},
			Canary:    v1alpha1.ControllerVersion{Revision: "v2", Identity: "widget-v2", LeaderElectionLock: "widgets/widget-controller-v2"},
			Resources: []v1alpha1.CanaryResource{{Group: sample.GroupVersion.Group, Version: "v1", Resource: "routes"}},
		}},
	)
	write := func(name string, crd *apiextensionsv1.CustomResourceDefinition) string {
		b, err := yaml.Marshal(crd)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), name)
		// a release file holds other kinds too: they are skipped
		if err := os.WriteFile(p, append([]byte("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n---\n"), b...), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sizeColor := map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "integer"}, "color": {Type: "string"}}
	sizeString := map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "string"}}
	cases := []struct {
		name    string
		crd     *apiextensionsv1.CustomResourceDefinition
		refuses []string
	}{
		{name: "compatible", crd: widgets("", widgetVersion("v1", true, false, size), widgetVersion("v2", true, true, sizeColor))},
		{name: "drops v1", crd: widgets("", widgetVersion("v1", false, false, size), widgetVersion("v2", true, true, sizeColor)),
			refuses: []string{"version v1 is read by the stable revision v1 (spec.stable.apiVersions test.handover.dev/v1) and would no longer be served", "objects are stored at version v1"}},
		{name: "incompatible without conversion", crd: widgets("", widgetVersion("v1", true, false, size), widgetVersion("v2", true, true, sizeString)),
			refuses: []string{"version v2 differs incompatibly from v1, which the stable revision reads (type of .spec.size changed integer → string), and the conversion strategy is None"}},
	}
	for _, c := range cases {
		out, err := run(t, "preflight", "widgets", "--kubeconfig", kc, "--crds", write(c.name+".yaml", c.crd))
		if len(c.refuses) == 0 {
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.name, err, out)
			}
			for _, want := range []string{"OK     CustomResourceDefinition widgets.test.handover.dev spec.versions[v1].served", "different locks"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: output lacks %q:\n%s", c.name, want, out)
				}
			}
			continue
		}
		if !errors.Is(err, ErrPreflightRefused) {
			t.Fatalf("%s: err %v, want ErrPreflightRefused\n%s", c.name, err, out)
		}
		for _, want := range c.refuses {
			if !strings.Contains(out, "Refuse CustomResourceDefinition widgets.test.handover.dev") || !strings.Contains(out, want) {
				t.Errorf("%s: output lacks the refusal %q:\n%s", c.name, want, out)
			}
		}
	}
	var got apiextensionsv1.CustomResourceDefinition
	if err := c.Get(ctx, client.ObjectKey{Name: live.Name}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Versions) != 1 || got.Spec.Versions[0].Name != "v1" || got.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"].Type != "integer" {
		t.Fatalf("the preflight changed the CRD: %+v", got.Spec.Versions)
	}
	if _, err := run(t, "preflight", "widgets", "--kubeconfig", kc, "--crds", filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "flag --crds") {
		t.Fatalf("missing file: %v, want an error naming --crds", err)
	}
}
