package validation

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// The issue-16 fields: maxCAs range, namespaceSelector targets, and the
// cert-manager leaves.
func TestSpecBundlePolicySelectorAndCertManager(t *testing.T) {
	t.Parallel()
	everything := &metav1.LabelSelector{}
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Sometimes"}}}
	tests := []struct {
		name   string
		mutate func(*v1alpha1.CertificateAuthoritySpec)
		fields []string
	}{
		{"defaults", func(*v1alpha1.CertificateAuthoritySpec) {}, nil},
		{"maxCAs 8", func(s *v1alpha1.CertificateAuthoritySpec) { s.BundlePolicy.MaxCAs = 8 }, nil},
		{"maxCAs 9", func(s *v1alpha1.CertificateAuthoritySpec) { s.BundlePolicy.MaxCAs = 9 }, []string{"spec.bundlePolicy.maxCAs"}},
		{"maxCAs negative", func(s *v1alpha1.CertificateAuthoritySpec) { s.BundlePolicy.MaxCAs = -1 }, []string{"spec.bundlePolicy.maxCAs"}},
		{"selector target", func(s *v1alpha1.CertificateAuthoritySpec) {
			s.TrustBundles = []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "b", NamespaceSelector: everything}}
		}, nil},
		{"selector and namespace", func(s *v1alpha1.CertificateAuthoritySpec) {
			s.TrustBundles = []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "b", Namespace: "team", NamespaceSelector: everything}}
		}, []string{"spec.trustBundles[0].namespaceSelector"}},
		{"invalid selector", func(s *v1alpha1.CertificateAuthoritySpec) {
			s.TrustBundles = []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetConfigMap, Name: "b", NamespaceSelector: bad}}
		}, []string{"spec.trustBundles[0].namespaceSelector"}},
		{"cert-manager by name", func(s *v1alpha1.CertificateAuthoritySpec) {
			s.CertManager = &v1alpha1.CertManagerLeaves{Certificates: []string{"gateway"}}
		}, nil},
		{"cert-manager with nothing selected", func(s *v1alpha1.CertificateAuthoritySpec) {
			s.CertManager = &v1alpha1.CertManagerLeaves{}
		}, []string{"spec.certManager"}},
		{"cert-manager bad name and selector", func(s *v1alpha1.CertificateAuthoritySpec) {
			s.CertManager = &v1alpha1.CertManagerLeaves{Certificates: []string{"Not_A_Name"}, Selector: bad}
		}, []string{"spec.certManager.certificates[0]", "spec.certManager.selector"}},
		{"issuer Secret is the managed copy", func(s *v1alpha1.CertificateAuthoritySpec) {
			s.CertManager = &v1alpha1.CertManagerLeaves{IssuerSecretName: "ca-handover-ca", Certificates: []string{"gateway"}}
		}, []string{"spec.certManager.issuerSecretName"}},
		{"a target overwrites the issuer Secret", func(s *v1alpha1.CertificateAuthoritySpec) {
			s.CertManager = &v1alpha1.CertManagerLeaves{Certificates: []string{"gateway"}}
			s.TrustBundles = []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "ca-handover-issuer"}}
		}, []string{"spec.trustBundles[0].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "ca"},
				Spec: v1alpha1.CertificateAuthoritySpec{Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}}}}
			tt.mutate(&ca.Spec)
			errs := Spec(ca)
			if len(errs) != len(tt.fields) {
				t.Fatalf("Spec = %v, want errors at %v", errs, tt.fields)
			}
			for i, e := range errs {
				if e.Field != tt.fields[i] {
					t.Errorf("error %d at %s, want %s", i, e.Field, tt.fields[i])
				}
			}
		})
	}
}

// A namespaceSelector reaches other namespaces: forbidden for a namespaced
// CertificateAuthority.
func TestScopeForbidsNamespaceSelector(t *testing.T) {
	t.Parallel()
	ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "ca"},
		Spec: v1alpha1.CertificateAuthoritySpec{TrustBundles: []v1alpha1.TrustBundleTarget{
			{Name: "b"}, {Name: "b2", NamespaceSelector: &metav1.LabelSelector{}},
		}}}
	errs := Scope(ca)
	if len(errs) != 1 || errs[0].Field != "spec.trustBundles[1].namespaceSelector" {
		t.Fatalf("Scope = %v, want one error at spec.trustBundles[1].namespaceSelector", errs)
	}
}
