package rotation_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/plan"
	"github.com/handover-dev/handover/internal/rotation"
	"github.com/handover-dev/handover/internal/trust"
)

func TestRestingCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ maxCAs, want int }{{0, 1}, {1, 1}, {2, 1}, {3, 2}, {8, 7}} {
		if got := rotation.RestingCap(tc.maxCAs); got != tc.want {
			t.Errorf("RestingCap(%d) = %d, want %d", tc.maxCAs, got, tc.want)
		}
	}
}

// bundleRecorder is a Backend with one hot-reload server consumer that
// trusts exactly the last published bundle at once; it records every
// published bundle (fingerprints, in order).
type bundleRecorder struct {
	mu      sync.Mutex
	bundles [][]string
	trusted []*x509.Certificate
}

func (b *bundleRecorder) Consumers(context.Context) ([]rotation.Consumer, error) {
	return []rotation.Consumer{{Name: "gw", Role: rotation.RoleServer, Reload: rotation.ReloadHot, Addr: "gw", Replicas: 1}}, nil
}
func (b *bundleRecorder) PublishTrustBundle(_ context.Context, pemBytes []byte) error {
	certs, err := trust.ParseCertificates(pemBytes)
	if err != nil {
		return err
	}
	var fps []string
	for _, c := range certs {
		fps = append(fps, trust.Fingerprint(c))
	}
	b.mu.Lock()
	b.bundles = append(b.bundles, fps)
	b.trusted = certs
	b.mu.Unlock()
	return nil
}
func (b *bundleRecorder) PublishLeaves(context.Context, rotation.IssueFunc) error { return nil }
func (b *bundleRecorder) RollingRestart(context.Context, rotation.Consumer) error {
	return nil
}
func (b *bundleRecorder) VerifyAcceptsCA(_ context.Context, _ rotation.Consumer, probe tls.Certificate) error {
	leaf, err := x509.ParseCertificate(probe.Certificate[0])
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.trusted {
		if leaf.CheckSignatureFrom(c) == nil {
			return nil
		}
	}
	return errors.New("unknown authority")
}
func (b *bundleRecorder) VerifyPresentsLeafFrom(context.Context, rotation.Consumer, *x509.CertPool, tls.Certificate) error {
	return nil
}

func fps(cas ...*trust.CA) []string {
	out := make([]string, 0, len(cas))
	for _, c := range cas {
		out = append(out, trust.Fingerprint(c.Cert))
	}
	return out
}

// MaxCAs 3: the overlap holds the new CA and both previous ones, the bundle
// after the grace period the new CA and the one before it.
func TestStagedKeepsRetainedCAsUnderMaxCAs(t *testing.T) {
	t.Parallel()
	a, b, c := newCA(t, "A"), newCA(t, "B"), newCA(t, "C")
	rec := &bundleRecorder{}
	r, err := rotation.Build(rotation.StrategyStaged, rotation.Spec{
		Backend: rec, Old: b, New: c, Retained: []*x509.Certificate{a.Cert}, MaxCAs: 3,
		PollInterval: 10 * time.Millisecond, StepTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&plan.Runner{}).Run(t.Context(), r.Plan)
	if err != nil || st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("run: %v %+v", err, st)
	}
	want := [][]string{fps(c, b, a), fps(c, b)}
	if len(rec.bundles) != 2 || strings.Join(rec.bundles[0], ",") != strings.Join(want[0], ",") || strings.Join(rec.bundles[1], ",") != strings.Join(want[1], ",") {
		t.Fatalf("published bundles %v, want %v", rec.bundles, want)
	}
}

// At the default cap a leaf of the previous CA still in use keeps the plan
// at the grace step (reason naming the rule); [new] is never published.
func TestStagedRefusesToDropASignerInUse(t *testing.T) {
	t.Parallel()
	b, c := newCA(t, "B"), newCA(t, "C")
	leaf, err := b.IssueLeaf(trust.LeafOptions{CommonName: "still-old", DNSNames: []string{"old.test"}, Usage: trust.UsageServer}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := &bundleRecorder{}
	r, err := rotation.Build(rotation.StrategyStaged, rotation.Spec{
		Backend: rec, Old: b, New: c,
		InUse:        func(context.Context) ([]*x509.Certificate, error) { return []*x509.Certificate{leaf.Cert}, nil },
		PollInterval: 10 * time.Millisecond, StepTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&plan.Runner{}).Run(t.Context(), r.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != plan.OutcomeFailed || !strings.Contains(st.Reason, rotation.StepGracePeriod) || !strings.Contains(st.Reason, "signs a leaf in use") {
		t.Fatalf("outcome %s (%s), want Failed at %s naming the signer rule", st.Outcome, st.Reason, rotation.StepGracePeriod)
	}
	if len(rec.bundles) != 1 || len(rec.bundles[0]) != 2 {
		t.Fatalf("published %v, want only the overlap [new, previous]", rec.bundles)
	}
}
