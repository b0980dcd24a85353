package kubeflags

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeConfig writes a kubeconfig with contexts "a" (namespace team-a,
// current, server https://a.example) and "b" (no namespace, https://b.example).
func writeConfig(t *testing.T) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["a"] = &clientcmdapi.Cluster{Server: "https://a.example"}
	kc.Clusters["b"] = &clientcmdapi.Cluster{Server: "https://b.example"}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	kc.Contexts["a"] = &clientcmdapi.Context{Cluster: "a", AuthInfo: "u", Namespace: "team-a"}
	kc.Contexts["b"] = &clientcmdapi.Context{Cluster: "b", AuthInfo: "u"}
	kc.CurrentContext = "a"
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFlagsResolve(t *testing.T) {
	t.Parallel()
	path := writeConfig(t)
	tests := []struct {
		name       string
		flags      Flags
		wantNS     string
		wantServer string
	}{
		{"current context", Flags{Kubeconfig: path}, "team-a", "https://a.example"},
		{"--context without namespace", Flags{Kubeconfig: path, Context: "b"}, "default", "https://b.example"},
		{"--namespace wins", Flags{Kubeconfig: path, Context: "a", Namespace: "x"}, "x", "https://a.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns, err := tt.flags.ResolvedNamespace()
			if err != nil || ns != tt.wantNS {
				t.Errorf("namespace %q, %v; want %q", ns, err, tt.wantNS)
			}
			cfg, err := tt.flags.RESTConfig()
			if err != nil || cfg.Host != tt.wantServer {
				t.Errorf("server %v, %v; want %q", cfg, err, tt.wantServer)
			}
		})
	}
}

func TestFlagsErrors(t *testing.T) {
	t.Parallel()
	path := writeConfig(t)
	for _, f := range []Flags{
		{Kubeconfig: filepath.Join(t.TempDir(), "missing")},
		{Kubeconfig: path, Context: "nope"},
	} {
		if _, err := f.RESTConfig(); !errors.Is(err, ErrKubeconfig) {
			t.Errorf("%+v: got %v, want ErrKubeconfig", f, err)
		}
	}
}

// TestKUBECONFIG: without --kubeconfig the $KUBECONFIG list is used, as
// kubectl does. Not parallel: it sets the environment.
func TestKUBECONFIG(t *testing.T) {
	t.Setenv("KUBECONFIG", writeConfig(t))
	ns, err := (&Flags{Context: "b", Namespace: ""}).ResolvedNamespace()
	if err != nil || ns != "default" {
		t.Fatalf("namespace %q, %v", ns, err)
	}
	cfg, err := (&Flags{}).RESTConfig()
	if err != nil || cfg.Host != "https://a.example" {
		t.Fatalf("config from $KUBECONFIG: %v, %v", cfg, err)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Group: "handover.dev", Resource: "certificateauthorities"}
	other := errors.New("connection refused")
	tests := []struct {
		name     string
		err      error
		sentinel error
		contains []string
	}{
		{"not found", apierrors.NewNotFound(gr, "gw"), ErrNotFound, []string{`CertificateAuthority "gw" not found in namespace "edge"`, "-n/--namespace"}},
		{"forbidden", apierrors.NewForbidden(gr, "gw", errors.New("rbac")), ErrForbidden, []string{`no permission to get CertificateAuthority "gw" in namespace "edge"`}},
		{"crd missing", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "handover.dev", Kind: "CertificateAuthority"}}, ErrCRDMissing, []string{"deploy/manifests"}},
		{"other", other, other, []string{"get CertificateAuthority edge/gw: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Explain(tt.err, "get", "CertificateAuthority", "edge", "gw")
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("got %v, want it to wrap %v", err, tt.sentinel)
			}
			for _, c := range tt.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("%q lacks %q", err.Error(), c)
				}
			}
		})
	}
	if Explain(nil, "get", "x", "y", "z") != nil {
		t.Error("Explain(nil) != nil")
	}
}
