// Package deploy holds the plain manifests (manifests/), the Helm chart
// (helm/handover) and example CertificateAuthority objects (examples/). Its
// tests prove the YAML is valid against a real kube-apiserver, that the
// generated copies match config/, and that the generated RBAC is enough for
// `handover controller` to do its job.
package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/handover-dev/handover/internal/cli/controller"
)

// TestGeneratedCopiesMatch: `make generate` copies the CRD and the generated
// ClusterRole into the manifests and the chart; they must not drift.
func TestGeneratedCopiesMatch(t *testing.T) {
	t.Parallel()
	pairs := []struct{ source, copy string }{
		{"../config/crd/bases/handover.dev_certificateauthorities.yaml", "manifests/01-crd-certificateauthorities.yaml"},
		{"../config/crd/bases/handover.dev_certificateauthorities.yaml", "helm/handover/crds/certificateauthorities.yaml"},
		{"../config/crd/bases/handover.dev_clustercertificateauthorities.yaml", "manifests/01-crd-clustercertificateauthorities.yaml"},
		{"../config/crd/bases/handover.dev_clustercertificateauthorities.yaml", "helm/handover/crds/clustercertificateauthorities.yaml"},
		{"../config/crd/bases/handover.dev_controllercanaries.yaml", "manifests/01-crd-controllercanaries.yaml"},
		{"../config/crd/bases/handover.dev_controllercanaries.yaml", "helm/handover/crds/controllercanaries.yaml"},
		{"../config/canary/requester-policy.yaml", "manifests/06-canary-requester-policy.yaml"},
		{"../config/canary/requester-policy.yaml", "helm/handover/files/canary-requester-policy.yaml"},
		{"../config/rbac/role.yaml", "manifests/02-clusterrole.yaml"},
		{"../config/rbac/role.yaml", "helm/handover/files/role.yaml"},
	}
	for _, p := range pairs {
		want, err := os.ReadFile(p.source)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p.copy)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: run make generate", p.copy, p.source)
		}
	}
}

// readDocs decodes every YAML document of the files matching glob, in file
// name order, skipping empty documents.
func readDocs(t *testing.T, glob string) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no files match %s", glob)
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			err := dec.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			out = append(out, u)
		}
	}
	return out
}

// controllerArgs returns the container args of the Deployment in docs.
func controllerArgs(t *testing.T, docs []*unstructured.Unstructured) []string {
	t.Helper()
	return controllerContainer(t, docs).Args
}

// controllerCommand is the controller container's command (entrypoint).
func controllerCommand(t *testing.T, docs []*unstructured.Unstructured) []string {
	t.Helper()
	return controllerContainer(t, docs).Command
}

func controllerContainer(t *testing.T, docs []*unstructured.Unstructured) corev1.Container {
	t.Helper()
	for _, u := range docs {
		if u.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0]
	}
	t.Fatal("no Deployment")
	return corev1.Container{}
}

// TestDeploymentArgsAreControllerFlags: the manifest runs
// `/handover-controller controller` with flags the command really has.
func TestDeploymentArgsAreControllerFlags(t *testing.T) {
	t.Parallel()
	docs := readDocs(t, "manifests/*.yaml")
	if cmd := controllerCommand(t, docs); len(cmd) != 1 || cmd[0] != "/handover-controller" {
		t.Fatalf("command %v, want [/handover-controller] (the image's controller-only binary)", cmd)
	}
	args := controllerArgs(t, docs)
	if len(args) == 0 || args[0] != "controller" {
		t.Fatalf("args %v do not start with the controller subcommand", args)
	}
	cmd := controller.NewCommand()
	if err := cmd.ParseFlags(args[1:]); err != nil {
		t.Fatalf("handover controller rejects the manifest's flags %v: %v", args[1:], err)
	}
}

// TestChartStructure: the chart files parse and values name the image.
func TestChartStructure(t *testing.T) {
	t.Parallel()
	var chart struct {
		APIVersion, Name, Version, AppVersion string
	}
	b, err := os.ReadFile("helm/handover/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.APIVersion != "v2" || chart.Name != "handover" || chart.Version == "" || chart.AppVersion == "" {
		t.Errorf("Chart.yaml: %+v", chart)
	}
	var values struct {
		Image struct{ Repository string } `json:"image"`
	}
	b, err = os.ReadFile("helm/handover/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	if values.Image.Repository == "" {
		t.Error("values.yaml: image.repository is empty")
	}
}

// apply creates u for real, or with server-side dry-run.
func apply(ctx context.Context, c client.Client, u *unstructured.Unstructured, dryRun bool) error {
	var opts []client.CreateOption
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	err := c.Create(ctx, u.DeepCopy(), opts...)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// waitForCRD polls until the apiserver serves the CertificateAuthority kind.
func waitForCRD(ctx context.Context, c client.Client) error {
	for _, kind := range []string{"CertificateAuthorityList", "ClusterCertificateAuthorityList"} {
		for {
			l := &unstructured.UnstructuredList{}
			l.SetAPIVersion("handover.dev/v1alpha1")
			l.SetKind(kind)
			err := c.List(ctx, l)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CRD of %s not served: %w", kind, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func namespaceOf(docs []*unstructured.Unstructured) string {
	for _, u := range docs {
		if u.GetKind() == "Namespace" {
			return u.GetName()
		}
	}
	return ""
}

func kinds(docs []*unstructured.Unstructured) string {
	var k []string
	for _, u := range docs {
		k = append(k, u.GetKind()+"/"+u.GetName())
	}
	return strings.Join(k, " ")
}
