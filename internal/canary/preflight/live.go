package preflight

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// ErrNoCRDs is returned by LoadCRDs when the files hold no
// CustomResourceDefinition.
var ErrNoCRDs = errors.New("no CustomResourceDefinition in the files")

// LoadCRDs reads the CustomResourceDefinitions (apiextensions.k8s.io/v1)
// from YAML or JSON files, several documents per file; documents of other
// kinds are skipped. Errors name the file and document (1-based).
func LoadCRDs(paths []string) ([]apiextensionsv1.CustomResourceDefinition, error) {
	var out []apiextensionsv1.CustomResourceDefinition
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read CRDs: %w", err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for doc := 1; ; doc++ {
			raw, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s document %d: %w", p, doc, err)
			}
			if len(bytes.TrimSpace(raw)) == 0 {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(raw, &head); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", p, doc, err)
			}
			if head.Kind != "CustomResourceDefinition" {
				continue
			}
			if head.APIVersion != apiextensionsv1.SchemeGroupVersion.String() {
				return nil, fmt.Errorf("%s document %d: apiVersion %q, want %s", p, doc, head.APIVersion, apiextensionsv1.SchemeGroupVersion)
			}
			var c apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict(raw, &c); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", p, doc, err)
			}
			if c.Name == "" {
				return nil, fmt.Errorf("%s document %d: CustomResourceDefinition without metadata.name", p, doc)
			}
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w %v", ErrNoCRDs, paths)
	}
	return out, nil
}

// Run is the preflight against a live cluster, changing nothing: it lists
// the cluster's CRDs, runs Check with proposed (nil = the cluster as it
// is), and asks the apiserver to validate each proposed CRD with a
// server-side dry run (create, or update of the live one); a refusal there
// (e.g. a stored version removed from spec.versions) is a Refuse finding,
// a dry run the caller may not make (403) a Warn.
// Errors: the CRDs cannot be listed.
func Run(ctx context.Context, c client.Client, cc *v1alpha1.ControllerCanary, proposed []apiextensionsv1.CustomResourceDefinition) ([]Finding, error) {
	items, err := listCRDs(ctx, c)
	if err != nil {
		return nil, err
	}
	if proposed == nil {
		return Check(cc, items, items), nil
	}
	fs := Check(cc, items, proposed)
	for i := range proposed {
		if f, ok := dryRun(ctx, c, &proposed[i]); !ok {
			fs = append(fs, f)
		}
	}
	return fs, nil
}

// crdGVK is read and written as unstructured, so any client's scheme
// will do (the operator's has no apiextensions types).
var crdGVK = apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition")

func listCRDs(ctx context.Context, c client.Client) ([]apiextensionsv1.CustomResourceDefinition, error) {
	var list unstructured.UnstructuredList
	list.SetGroupVersionKind(crdGVK.GroupVersion().WithKind("CustomResourceDefinitionList"))
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list CustomResourceDefinitions: %w", err)
	}
	out := make([]apiextensionsv1.CustomResourceDefinition, len(list.Items))
	for i := range list.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &out[i]); err != nil {
			return nil, fmt.Errorf("decode CustomResourceDefinition %s: %w", list.Items[i].GetName(), err)
		}
	}
	return out, nil
}

func dryRun(ctx context.Context, c client.Client, want *apiextensionsv1.CustomResourceDefinition) (Finding, bool) {
	typed := want.DeepCopy()
	typed.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
	if err != nil {
		return Finding{Severity: Refuse, Object: "CustomResourceDefinition " + want.Name, Message: fmt.Sprintf("cannot encode it: %v", err)}, false
	}
	obj := &unstructured.Unstructured{Object: m}
	obj.SetGroupVersionKind(crdGVK)
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(crdGVK)
	err = c.Get(ctx, client.ObjectKey{Name: obj.GetName()}, cur)
	switch {
	case apierrors.IsNotFound(err):
		obj.SetResourceVersion("")
		err = c.Create(ctx, obj, client.DryRunAll)
	case err == nil:
		obj.SetResourceVersion(cur.GetResourceVersion())
		err = c.Update(ctx, obj, client.DryRunAll)
	}
	if apierrors.IsForbidden(err) {
		return Finding{Severity: Warn, Object: "CustomResourceDefinition " + want.Name, Message: fmt.Sprintf("no server-side dry run (it needs create/update on customresourcedefinitions): %v", err)}, false
	}
	if err != nil {
		return Finding{Severity: Refuse, Object: "CustomResourceDefinition " + want.Name, Message: fmt.Sprintf("the apiserver refuses it (server-side dry run): %v", err)}, false
	}
	return Finding{}, true
}
