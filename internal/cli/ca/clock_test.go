package ca

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/handover-dev/handover/internal/trust"
)

// TestBundleUsesInjectedClock checks that without --now the policy runs at
// the injected clock's time: the same inputs keep the old CA before its
// notAfter and drop it after.
func TestBundleUsesInjectedClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	certs, err := trust.ParseCertificates(mustRead(t, e.path("old-ca.pem")))
	if err != nil {
		t.Fatal(err)
	}
	oldNotAfter := certs[0].NotAfter
	for _, tt := range []struct {
		name string
		at   string
		want int
	}{
		{"before the old CA expires", envNow, 2},
		{"after the old CA expired", oldNotAfter.AddDate(0, 0, 1).Format(time.RFC3339), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			o := &BundleOptions{
				Active: e.path("new-ca.pem"), Previous: []string{e.path("old-ca.pem")}, Max: trust.DefaultMaxCAs,
				Clock: clocktesting.NewFakePassiveClock(mustTime(t, tt.at)), Out: &out, ErrOut: &errOut,
			}
			if err := runBundle(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			got, err := trust.ParseCertificates(out.Bytes())
			if err != nil || len(got) != tt.want {
				t.Fatalf("bundle has %d CAs (err %v), want %d; summary:\n%s", len(got), err, tt.want, errOut.String())
			}
			if !strings.Contains(errOut.String(), " at "+tt.at) {
				t.Errorf("summary does not report the clock's time %s:\n%s", tt.at, errOut.String())
			}
		})
	}
}
