package certificateauthority

import (
	"context"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/testenv"
)

// InstallForTest installs the CRDs on the apiserver of cfg and returns a
// scheme with client-go's types and v1alpha1 and a client on it: the setup
// the package's internal and external tests share (test-only, exported for
// the external test package).
func InstallForTest(t testing.TB, cfg *rest.Config) (*runtime.Scheme, client.Client) {
	t.Helper()
	testenv.InstallCRDs(t, cfg)
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return scheme, c
}

// CountingReader is a client.Reader that counts its Gets (test-only).
type CountingReader struct {
	client.Reader
	Gets atomic.Int64
}

// Get counts the call and reads through Reader.
func (r *CountingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.Gets.Add(1)
	return r.Reader.Get(ctx, key, obj, opts...)
}
