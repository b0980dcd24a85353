package trust

import (
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBundle(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	// Four generations of CA, newest first; "old" expires before t0.
	ca3 := mustCA(t, "ca3", t0.Add(-1*day), 30*day)
	ca2 := mustCA(t, "ca2", t0.Add(-10*day), 30*day)
	ca1 := mustCA(t, "ca1", t0.Add(-20*day), 30*day)
	old := mustCA(t, "old", t0.Add(-40*day), 30*day)   // notAfter = t0-10d
	edge := mustCA(t, "edge", t0.Add(-30*day), 30*day) // notAfter = t0
	stranger := mustCA(t, "stranger", t0.Add(-day), 30*day)
	leaf3 := mustLeaf(t, ca3, "leaf3", t0).Cert
	leaf2 := mustLeaf(t, ca2, "leaf2", t0).Cert
	leaf1 := mustLeaf(t, ca1, "leaf1", t0).Cert
	leafOld := mustLeaf(t, old, "leafold", t0.Add(-15*day)).Cert
	leafStranger := mustLeaf(t, stranger, "leafstranger", t0).Cert
	notCA := leaf1
	expiredActive := old.Cert

	tests := []struct {
		name    string
		in      BundleInput
		want    []*x509.Certificate
		err     error
		naming  []*x509.Certificate // certificates the error must name by fingerprint
		reasons []string            // ExplainBundle reasons, in input order
	}{
		{name: "nil active", in: BundleInput{Previous: []*x509.Certificate{ca2.Cert}, Now: t0}, err: ErrNoActiveCA},
		{name: "active only", in: BundleInput{Active: ca3.Cert, Now: t0}, want: []*x509.Certificate{ca3.Cert}, reasons: []string{ReasonActive}},
		{name: "active then previous", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert}, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert}, reasons: []string{ReasonActive, ReasonKept}},
		{name: "expired previous is dropped", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{old.Cert, ca2.Cert}, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert}, reasons: []string{ReasonActive, ReasonExpired, ReasonKept}},
		{name: "previous expiring exactly now is kept", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{edge.Cert}, Now: edge.Cert.NotAfter},
			want: []*x509.Certificate{ca3.Cert, edge.Cert}, reasons: []string{ReasonActive, ReasonKept}},
		{name: "duplicate of active is dropped", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca3.Cert, ca2.Cert}, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert}, reasons: []string{ReasonActive, ReasonDuplicate, ReasonKept}},
		{name: "duplicate previous is dropped", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, ca2.Cert, ca1.Cert}, MaxCAs: 3, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert, ca1.Cert}, reasons: []string{ReasonActive, ReasonKept, ReasonDuplicate, ReasonKept}},
		{name: "default cap is 2", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, ca1.Cert}, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert}, reasons: []string{ReasonActive, ReasonKept, ReasonOverCap}},
		{name: "cap 3 keeps input order", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, ca1.Cert}, MaxCAs: 3, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert, ca1.Cert}, reasons: []string{ReasonActive, ReasonKept, ReasonKept}},
		{name: "cap 1 keeps only active", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert}, MaxCAs: 1, Now: t0},
			want: []*x509.Certificate{ca3.Cert}, reasons: []string{ReasonActive, ReasonOverCap}},
		{name: "negative cap", in: BundleInput{Active: ca3.Cert, MaxCAs: -1, Now: t0}, err: ErrInvalidOptions},
		{name: "leaf of active in use", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, ca1.Cert}, InUse: []*x509.Certificate{leaf3}, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert}, reasons: []string{ReasonActive, ReasonKept, ReasonOverCap}},
		{name: "leaf of kept previous in use", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, ca1.Cert}, InUse: []*x509.Certificate{leaf2, leaf3}, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert}, reasons: []string{ReasonActive, ReasonKept, ReasonOverCap}},
		{name: "leaf of a CA given twice is covered by the kept copy", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, ca2.Cert}, InUse: []*x509.Certificate{leaf2}, Now: t0},
			want: []*x509.Certificate{ca3.Cert, ca2.Cert}, reasons: []string{ReasonActive, ReasonKept, ReasonDuplicate}},
		{name: "cap would drop the signer of a leaf in use", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, ca1.Cert}, InUse: []*x509.Certificate{leaf1}, Now: t0},
			err: ErrBundleWouldDropSigner, naming: []*x509.Certificate{leaf1, ca1.Cert}},
		{name: "cap 1 would drop the previous signer", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert}, InUse: []*x509.Certificate{leaf2}, MaxCAs: 1, Now: t0},
			err: ErrBundleWouldDropSigner, naming: []*x509.Certificate{leaf2, ca2.Cert}},
		{name: "every leaf that would break is named", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, ca1.Cert}, InUse: []*x509.Certificate{leaf2, leaf1}, MaxCAs: 1, Now: t0},
			err: ErrBundleWouldDropSigner, naming: []*x509.Certificate{leaf2, ca2.Cert, leaf1, ca1.Cert}},
		{name: "expired signer of a leaf in use", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{old.Cert}, InUse: []*x509.Certificate{leafOld}, Now: t0},
			err: ErrSignerExpired, naming: []*x509.Certificate{leafOld, old.Cert}},
		{name: "no input CA signs a leaf in use", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert}, InUse: []*x509.Certificate{leafStranger}, Now: t0},
			err: ErrNoSigner, naming: []*x509.Certificate{leafStranger}},
		{name: "active is not a CA", in: BundleInput{Active: notCA, Now: t0}, err: ErrNotCA, naming: []*x509.Certificate{notCA}},
		{name: "active expired", in: BundleInput{Active: expiredActive, Now: t0}, err: ErrExpired, naming: []*x509.Certificate{expiredActive}},
		{name: "previous is not a CA", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{ca2.Cert, notCA}, Now: t0}, err: ErrNotCA, naming: []*x509.Certificate{notCA}},
		{name: "nil previous", in: BundleInput{Active: ca3.Cert, Previous: []*x509.Certificate{nil}, Now: t0}, err: ErrInvalidOptions},
		{name: "nil leaf", in: BundleInput{Active: ca3.Cert, InUse: []*x509.Certificate{nil}, Now: t0}, err: ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prev := slices.Clone(tt.in.Previous)
			got, err := Bundle(tt.in)
			if !slices.Equal(prev, tt.in.Previous) {
				t.Error("Bundle modified its input")
			}
			wantErr(t, err, tt.err)
			if err != nil {
				if got != nil {
					t.Errorf("bundle of %d returned with an error", len(got))
				}
				for _, c := range tt.naming {
					if !strings.Contains(err.Error(), Fingerprint(c)) || !strings.Contains(err.Error(), c.Subject.String()) {
						t.Errorf("error does not name %s: %v", RefOf(c), err)
					}
				}
				if len(tt.naming) == 2 && errors.Is(err, ErrBundleWouldDropSigner) {
					var se *SignerError
					if !errors.As(err, &se) || se.Leaf != RefOf(tt.naming[0]) || se.CA != RefOf(tt.naming[1]) {
						t.Errorf("SignerError = %+v, want leaf %s CA %s", se, RefOf(tt.naming[0]), RefOf(tt.naming[1]))
					}
				}
				return
			}
			if !slices.EqualFunc(got, tt.want, func(a, b *x509.Certificate) bool { return a.Equal(b) }) {
				t.Errorf("bundle = %v, want %v", subjects(got), subjects(tt.want))
			}
			entries, err := ExplainBundle(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, e := range entries {
				reasons = append(reasons, e.Reason)
			}
			if !slices.Equal(reasons, tt.reasons) {
				t.Errorf("reasons = %v, want %v", reasons, tt.reasons)
			}
		})
	}
}

// TestBundleErrorIsDistinct pins that an expired signer and a capped signer
// are different errors, so callers can tell "raise --max" from "re-issue".
func TestBundleErrorIsDistinct(t *testing.T) {
	t.Parallel()
	if errors.Is(ErrSignerExpired, ErrBundleWouldDropSigner) || errors.Is(ErrBundleWouldDropSigner, ErrSignerExpired) {
		t.Fatal("sentinels alias each other")
	}
	active := mustCA(t, "active", t0, time.Hour)
	old := mustCA(t, "old", t0.Add(-2*time.Hour), time.Hour)
	leaf := mustLeaf(t, old, "leaf", t0.Add(-90*time.Minute)).Cert
	_, err := Bundle(BundleInput{Active: active.Cert, Previous: []*x509.Certificate{old.Cert}, InUse: []*x509.Certificate{leaf}, Now: t0})
	if !errors.Is(err, ErrSignerExpired) || errors.Is(err, ErrBundleWouldDropSigner) {
		t.Fatalf("err = %v, want ErrSignerExpired only", err)
	}
}

func subjects(certs []*x509.Certificate) []string {
	var s []string
	for _, c := range certs {
		s = append(s, c.Subject.CommonName)
	}
	return s
}
