package rotation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/trust"
)

var update = flag.Bool("update", false, "rewrite golden files")

// unusedBackend fails the test if a plan touches it: Build and Describe
// must not.
type unusedBackend struct{ t *testing.T }

func (b unusedBackend) fail() error { b.t.Error("backend called while building"); return nil }
func (b unusedBackend) Consumers(context.Context) ([]Consumer, error) {
	return nil, b.fail()
}
func (b unusedBackend) PublishTrustBundle(context.Context, []byte) error { return b.fail() }
func (b unusedBackend) PublishLeaves(context.Context, IssueFunc) error   { return b.fail() }
func (b unusedBackend) RollingRestart(context.Context, Consumer) error   { return b.fail() }
func (b unusedBackend) VerifyAcceptsCA(context.Context, Consumer, tls.Certificate) error {
	return b.fail()
}
func (b unusedBackend) VerifyPresentsLeafFrom(context.Context, Consumer, *x509.CertPool, tls.Certificate) error {
	return b.fail()
}

func TestDescribeGolden(t *testing.T) {
	t.Parallel()
	old, err := trust.NewCA(trust.CAOptions{CommonName: "old"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	next, err := trust.NewCA(trust.CAOptions{CommonName: "new"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Strategies() {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			r, err := Build(s, Spec{Backend: unusedBackend{t}, Old: old, New: next, Propagation: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			got := plan.Describe(r.Plan)
			path := filepath.Join("testdata", string(s)+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("Describe(%s) =\n%s\nwant\n%s", s, got, want)
			}
		})
	}
}
