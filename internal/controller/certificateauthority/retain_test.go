package certificateauthority

import (
	"crypto/x509"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

func testCAs(t *testing.T, names ...string) []*trust.CA {
	t.Helper()
	out := make([]*trust.CA, 0, len(names))
	for _, n := range names {
		c, err := trust.NewCA(trust.CAOptions{CommonName: n}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func subjects(certs []*x509.Certificate) string {
	s := ""
	for _, c := range certs {
		s += c.Subject.CommonName
	}
	return s
}

func TestRetiredFor(t *testing.T) {
	t.Parallel()
	cas := testCAs(t, "A", "B", "C", "D")
	a, b, c, d := cas[0], cas[1], cas[2], cas[3]
	tests := []struct {
		name       string
		cp         *managedCopy
		next, prev *trust.CA
		maxCAs     int
		want       string
	}{
		{"default cap keeps none", &managedCopy{active: b, previous: a}, c, b, 2, ""},
		{"maxCAs 3: the previous becomes retired", &managedCopy{active: b, previous: a}, c, b, 3, "A"},
		{"maxCAs 3: only one retired", &managedCopy{active: c, previous: b, retired: []*x509.Certificate{a.Cert}}, d, c, 3, "B"},
		{"maxCAs 4: newest first", &managedCopy{active: c, previous: b, retired: []*x509.Certificate{a.Cert}}, d, c, 4, "BA"},
		{"revert: the new CA is not retired", &managedCopy{active: c, previous: b, retired: []*x509.Certificate{a.Cert}}, b, c, 4, "A"},
		{"first rotation", &managedCopy{active: a}, b, a, 8, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := subjects(retiredFor(tt.cp, tt.next, tt.prev, tt.maxCAs)); got != tt.want {
				t.Fatalf("retiredFor = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOwnCopy(t *testing.T) {
	t.Parallel()
	ref := metav1.OwnerReference{APIVersion: "handover.dev/v1alpha1", Kind: "CertificateAuthority", Name: "ca", UID: "u1"}
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "u2"}
	tests := []struct {
		name        string
		uid         string
		retain      bool
		refs        []metav1.OwnerReference
		wantChanged bool
		wantRefs    int
	}{
		{"adds the reference", "u1", false, nil, true, 1},
		{"keeps it", "u1", false, []metav1.OwnerReference{ref}, false, 1},
		{"keeps other owners", "u1", false, []metav1.OwnerReference{other}, true, 2},
		{"retain removes it", "u1", true, []metav1.OwnerReference{other, ref}, true, 1},
		{"retain without it", "u1", true, nil, false, 0},
		{"no UID yet", "", false, nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: "n", UID: "u1"}}
			ca.UID = types.UID(tt.uid)
			ca.Spec.RetainManagedCopy = tt.retain
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{OwnerReferences: append([]metav1.OwnerReference(nil), tt.refs...)}}
			if got := ownCopy(ca, s); got != tt.wantChanged {
				t.Fatalf("changed = %v, want %v", got, tt.wantChanged)
			}
			if len(s.OwnerReferences) != tt.wantRefs {
				t.Fatalf("owner references %+v, want %d", s.OwnerReferences, tt.wantRefs)
			}
			for _, r := range s.OwnerReferences {
				if r.UID == "u1" && (r.Controller == nil && len(tt.refs) == 0) {
					t.Fatalf("added reference is not the controller: %+v", r)
				}
			}
		})
	}
}
