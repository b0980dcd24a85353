package certificateauthority

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/trust"
)

func baseCA() *v1alpha1.CertificateAuthority {
	return &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: "ns"},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source:       v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
			TrustBundles: []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "bundle"}},
			Certificates: []v1alpha1.CertificateSpec{{SecretName: "gw-tls", DNSNames: []string{"gw"}}},
		},
	}
}

func TestValidateSpec(t *testing.T) {
	t.Parallel()
	d := func(s string) *v1alpha1.Duration {
		v := &v1alpha1.Duration{}
		if err := json.Unmarshal([]byte(strconv.Quote(s)), v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name   string
		mutate func(*v1alpha1.CertificateAuthority)
		field  string // "" = valid
		reason string // "" = InvalidSpec
	}{
		{"valid", func(*v1alpha1.CertificateAuthority) {}, "", ""},
		{"zero propagation", func(c *v1alpha1.CertificateAuthority) { c.Spec.PropagationTimeout = d("0s") }, "spec.propagationTimeout", ""},
		{"negative propagation", func(c *v1alpha1.CertificateAuthority) { c.Spec.PropagationTimeout = d("-1s") }, "spec.propagationTimeout", ""},
		{"negative grace", func(c *v1alpha1.CertificateAuthority) { c.Spec.GracePeriod = d("-1s") }, "spec.gracePeriod", ""},
		{"renewBefore >= duration", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.Source.Generate.Duration, c.Spec.Source.Generate.RenewBefore = d("1h"), d("2h")
		}, "spec.source.generate.renewBefore", ""},
		{"maxCAs 1 in Managed", func(c *v1alpha1.CertificateAuthority) { c.Spec.BundlePolicy.MaxCAs = 1 }, "spec.bundlePolicy.maxCAs", ""},
		{"maxCAs 1 in Legacy", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.BundlePolicy.MaxCAs, c.Spec.Mode = 1, v1alpha1.ModeLegacy
		}, "", ""},
		{"no source", func(c *v1alpha1.CertificateAuthority) { c.Spec.Source.Generate = nil }, "spec.source", ""},
		{"source is the copy", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.Source = v1alpha1.CASource{SecretRef: &v1alpha1.CASecretRef{Name: "mesh-handover-ca"}}
		}, "spec.source.secretRef.name", ""},
		{"bundle into the source", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.Source = v1alpha1.CASource{SecretRef: &v1alpha1.CASecretRef{Name: "root"}}
			c.Spec.TrustBundles[0].Name = "root"
		}, "spec.trustBundles[0].name", ""},
		{"bundle into the copy", func(c *v1alpha1.CertificateAuthority) { c.Spec.TrustBundles[0].Name = "mesh-handover-ca" }, "spec.trustBundles[0].name", ""},
		{"bundle in another namespace", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.TrustBundles[0].Name, c.Spec.TrustBundles[0].Namespace = "mesh-handover-ca", "other"
		}, "spec.trustBundles[0].namespace", ReasonNamespaceForbidden},
		{"bundle in its own namespace named", func(c *v1alpha1.CertificateAuthority) { c.Spec.TrustBundles[0].Namespace = "ns" }, "", ""},
		{"leaf in another namespace", func(c *v1alpha1.CertificateAuthority) { c.Spec.Certificates[0].Namespace = "victim" },
			"spec.certificates[0].namespace", ReasonNamespaceForbidden},
		{"consumer in another namespace", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.Consumers = []v1alpha1.Consumer{{Name: "x", Kind: "Deployment", Reload: v1alpha1.ReloadEvict, WorkloadName: "vapp", Namespace: "victim"}}
		}, "spec.consumers[0].namespace", ReasonNamespaceForbidden},
		{"duration not a duration", func(c *v1alpha1.CertificateAuthority) { c.Spec.Source.Generate.Duration = d("abc") }, "spec.source.generate.duration", ""},
		{"propagation not a duration", func(c *v1alpha1.CertificateAuthority) { c.Spec.PropagationTimeout = d("1 hour") }, "spec.propagationTimeout", ""},
		{"propagation above 1h", func(c *v1alpha1.CertificateAuthority) { c.Spec.PropagationTimeout = d("100000h") }, "spec.propagationTimeout", ""},
		{"renewals 1s apart", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.Source.Generate.Duration, c.Spec.Source.Generate.RenewBefore = d("2m"), d("119s")
		}, "spec.source.generate.duration", ""},
		{"renewals 1h apart", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.Source.Generate.Duration, c.Spec.Source.Generate.RenewBefore = d("2h"), d("1h")
		}, "", ""},
		{"leaf duration too short", func(c *v1alpha1.CertificateAuthority) { c.Spec.Certificates[0].Duration = d("1s") }, "spec.certificates[0].duration", ""},
		{"bad DNS name", func(c *v1alpha1.CertificateAuthority) { c.Spec.Certificates[0].DNSNames = []string{"bad name!!"} }, "spec.certificates[0].dnsNames[0]", ""},
		{"wildcard DNS name", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.Certificates[0].DNSNames = []string{"*.Kyma.example.com"}
		}, "", ""},
		{"duplicate bundle", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.TrustBundles = append(c.Spec.TrustBundles, v1alpha1.TrustBundleTarget{Kind: v1alpha1.TargetSecret, Name: "bundle", Key: "ca.crt"})
		}, "spec.trustBundles[1]", ""},
		{"same name other kind", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.TrustBundles = append(c.Spec.TrustBundles, v1alpha1.TrustBundleTarget{Kind: v1alpha1.TargetConfigMap, Name: "bundle"})
		}, "", ""},
		{"bundle clobbers leaf ca.crt", func(c *v1alpha1.CertificateAuthority) { c.Spec.TrustBundles[0].Name = "gw-tls" }, "spec.certificates[0].secretName", ""},
		{"leaf without names", func(c *v1alpha1.CertificateAuthority) { c.Spec.Certificates[0].DNSNames = nil }, "spec.certificates[0]", ""},
		{"bad IP", func(c *v1alpha1.CertificateAuthority) { c.Spec.Certificates[0].IPAddresses = []string{"10.0.0.300"} }, "spec.certificates[0].ipAddresses[0]", ""},
		{"relative URI", func(c *v1alpha1.CertificateAuthority) { c.Spec.Certificates[0].URIs = []string{"no-scheme"} }, "spec.certificates[0].uris[0]", ""},
		{"bad selector", func(c *v1alpha1.CertificateAuthority) {
			c.Spec.Consumers = []v1alpha1.Consumer{{Name: "x", Kind: "Deployment", Reload: v1alpha1.ReloadHot,
				Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}}}
		}, "spec.consumers[0].selector", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca := baseCA()
			tt.mutate(ca)
			p := ValidateSpec(ca)
			if tt.field == "" {
				if p != nil {
					t.Fatalf("want valid, got %v", p)
				}
				return
			}
			if p == nil {
				t.Fatalf("want a problem at %s, got none", tt.field)
			}
			reason := tt.reason
			if reason == "" {
				reason = ReasonInvalidSpec
			}
			if p.Field != tt.field || p.Reason != reason {
				t.Fatalf("got %+v, want field %s reason %s", p, tt.field, reason)
			}
		})
	}
}

// TestValidateSpecReportsEveryProblem: a scope violation does not hide a
// spec error; the reason and field are the scope's, the message lists both.
func TestValidateSpecReportsEveryProblem(t *testing.T) {
	t.Parallel()
	ca := baseCA()
	ca.Spec.Certificates[0].Namespace = "victim"
	ca.Spec.Certificates[0].DNSNames = []string{"bad name!!"}
	p := ValidateSpec(ca)
	if p == nil || p.Reason != ReasonNamespaceForbidden || p.Field != "spec.certificates[0].namespace" ||
		!strings.Contains(p.Message, "spec.certificates[0].dnsNames[0]") {
		t.Fatalf("got %+v, want NamespaceForbidden at spec.certificates[0].namespace naming spec.certificates[0].dnsNames[0] too", p)
	}
}

func TestValidateSourceSecret(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a, err := trust.NewCA(trust.CAOptions{CommonName: "a"}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := trust.NewCA(trust.CAOptions{CommonName: "b"}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := a.IssueLeaf(trust.LeafOptions{CommonName: "leaf", DNSNames: []string{"leaf"}, Usage: trust.UsageServer}, now)
	if err != nil {
		t.Fatal(err)
	}
	ref := &v1alpha1.CASecretRef{Name: "root"}
	sec := func(cert, key []byte) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "root"}, Data: map[string][]byte{}}
		if cert != nil {
			s.Data["tls.crt"] = cert
		}
		if key != nil {
			s.Data["tls.key"] = key
		}
		return s
	}
	tests := []struct {
		name          string
		secret        *corev1.Secret
		reason, field string
	}{
		{"ok", sec(a.CertPEM, a.KeyPEM), "", ""},
		{"missing secret", nil, ReasonSourceNotFound, "spec.source.secretRef.name"},
		{"missing cert key", sec(nil, a.KeyPEM), ReasonInvalidSource, "spec.source.secretRef.certificateKey"},
		{"malformed PEM", sec([]byte("-----BEGIN CERTIFICATE-----\nnot base64!\n"), a.KeyPEM), ReasonInvalidSource, "spec.source.secretRef.certificateKey"},
		{"not PEM", sec([]byte("hello"), a.KeyPEM), ReasonInvalidSource, "spec.source.secretRef.certificateKey"},
		{"non-CA certificate", sec(leaf.CertPEM, leaf.KeyPEM), ReasonInvalidSource, "spec.source.secretRef.certificateKey"},
		{"missing key", sec(a.CertPEM, nil), ReasonInvalidSource, "spec.source.secretRef.privateKeyKey"},
		{"garbage key", sec(a.CertPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")), ReasonInvalidSource, "spec.source.secretRef.privateKeyKey"},
		{"key mismatch", sec(a.CertPEM, b.KeyPEM), ReasonKeyMismatch, "spec.source.secretRef.privateKeyKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, p := ValidateSourceSecret(ref, tt.secret, now)
			if tt.reason == "" {
				if p != nil || got == nil || trust.Fingerprint(got.Cert) != trust.Fingerprint(a.Cert) {
					t.Fatalf("want CA a, got %v %v", got, p)
				}
				return
			}
			if p == nil {
				t.Fatalf("want %s at %s, got a CA", tt.reason, tt.field)
			}
			if p.Reason != tt.reason || p.Field != tt.field {
				t.Fatalf("got %s at %s (%s), want %s at %s", p.Reason, p.Field, p.Message, tt.reason, tt.field)
			}
			for _, k := range [][]byte{a.KeyPEM, b.KeyPEM, leaf.KeyPEM} {
				if strings.Contains(p.Error(), string(k)) || strings.Contains(p.Error(), "PRIVATE KEY-----\n") {
					t.Fatal("problem message carries key material")
				}
			}
		})
	}
}
