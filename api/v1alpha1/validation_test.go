package v1alpha1_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/testenv"
)

// newClient starts a real kube-apiserver, installs the generated CRD and
// returns a client for the handover.dev types.
func newClient(t *testing.T) client.Client {
	t.Helper()
	cfg := testenv.StartAPIServer(t)
	testenv.InstallCRDs(t, cfg)
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func generated(name string) *v1alpha1.CertificateAuthority {
	return &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1alpha1.CertificateAuthoritySpec{
			Source: v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
		},
	}
}

func TestCRDDefaultsAndValidation(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("defaults", func(t *testing.T) {
		ca := generated("defaults")
		ca.Spec.TrustBundles = []v1alpha1.TrustBundleTarget{{Kind: v1alpha1.TargetSecret, Name: "bundle"}}
		ca.Spec.Certificates = []v1alpha1.CertificateSpec{{SecretName: "gw-tls", DNSNames: []string{"gw.example"}}}
		if err := c.Create(ctx, ca); err != nil {
			t.Fatalf("create: %v", err)
		}
		got := &v1alpha1.CertificateAuthority{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(ca), got); err != nil {
			t.Fatal(err)
		}
		s := got.Spec
		checks := []struct{ field, got, want string }{
			{"spec.mode", string(s.Mode), "Managed"},
			{"spec.propagationTimeout", s.PropagationTimeout.Duration.String(), "1m30s"},
			{"spec.gracePeriod", s.GracePeriod.Duration.String(), "1h0m0s"},
			{"spec.source.generate.duration", s.Source.Generate.Duration.Duration.String(), "8760h0m0s"},
			{"spec.source.generate.renewBefore", s.Source.Generate.RenewBefore.Duration.String(), "720h0m0s"},
			{"spec.source.generate.algorithm", string(s.Source.Generate.Algorithm), "ECDSAP256"},
			{"spec.bundlePolicy.maxCAs", itoa(s.BundlePolicy.MaxCAs), "2"},
			{"spec.trustBundles[0].key", s.TrustBundles[0].Key, "ca.crt"},
			{"spec.certificates[0].duration", s.Certificates[0].Duration.Duration.String(), "8760h0m0s"},
		}
		for _, ck := range checks {
			if ck.got != ck.want {
				t.Errorf("%s defaulted to %q, want %q", ck.field, ck.got, ck.want)
			}
		}
	})

	invalid := []struct {
		name    string
		mutate  func(*v1alpha1.CertificateAuthority)
		message string // a fragment the apiserver's rejection must contain
	}{
		{"both sources", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Source.SecretRef = &v1alpha1.CASecretRef{Name: "root"}
		}, "set exactly one of source.generate or source.secretRef"},
		{"no source", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Source.Generate = nil
		}, "set exactly one of source.generate or source.secretRef"},
		{"unknown mode", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Mode = "Sometimes"
		}, "spec.mode"},
		{"consumer with name and selector", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Consumers = []v1alpha1.Consumer{{
				Name: "gw", Kind: "Deployment", Reload: v1alpha1.ReloadHot,
				WorkloadName: "gw", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "gw"}},
			}}
		}, "set exactly one of workloadName or selector"},
		{"consumer with neither name nor selector", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Consumers = []v1alpha1.Consumer{{Name: "gw", Kind: "Deployment", Reload: v1alpha1.ReloadHot}}
		}, "set exactly one of workloadName or selector"},
		{"unknown reload policy", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Consumers = []v1alpha1.Consumer{{Name: "gw", Kind: "Deployment", WorkloadName: "gw", Reload: "Reboot"}}
		}, "spec.consumers[0].reload"},
		{"unknown target kind", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.TrustBundles = []v1alpha1.TrustBundleTarget{{Kind: "Volume", Name: "x"}}
		}, "spec.trustBundles[0].kind"},
		{"maxCAs above 8", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.BundlePolicy.MaxCAs = 9
		}, "spec.bundlePolicy.maxCAs"},
		{"certManager without certificates or selector", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.CertManager = &v1alpha1.CertManagerLeaves{IssuerSecretName: "x"}
		}, "spec.certManager"},
		{"duration not a duration", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Source.Generate.Duration = dur(t, "abc")
		}, "spec.source.generate.duration"},
		{"propagationTimeout above 1h", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.PropagationTimeout = dur(t, "100000h")
		}, "spec.propagationTimeout"},
		{"negative gracePeriod", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.GracePeriod = dur(t, "-1s")
		}, "spec.gracePeriod"},
		{"renewals 1s apart", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Source.Generate.Duration, ca.Spec.Source.Generate.RenewBefore = dur(t, "2h"), dur(t, "119m")
		}, "time between two renewals"},
		{"renewBefore not shorter than duration", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Source.Generate.Duration, ca.Spec.Source.Generate.RenewBefore = dur(t, "2h"), dur(t, "3h")
		}, "renewBefore must be shorter than duration"},
		{"CA duration below 1h", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Source.Generate.Duration, ca.Spec.Source.Generate.RenewBefore = dur(t, "2m"), dur(t, "119s")
		}, "spec.source.generate.duration"},
		{"invalid DNS SAN", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Certificates = []v1alpha1.CertificateSpec{{SecretName: "x", DNSNames: []string{"bad name!!"}}}
		}, "spec.certificates[0].dnsNames[0]"},
		{"leaf duration below 5m", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Certificates = []v1alpha1.CertificateSpec{{SecretName: "x", DNSNames: []string{"x.test"}, Duration: dur(t, "1s")}}
		}, "spec.certificates[0].duration"},
		{"unknown usage", func(ca *v1alpha1.CertificateAuthority) {
			ca.Spec.Certificates = []v1alpha1.CertificateSpec{{SecretName: "x", Usages: []v1alpha1.Usage{"signing"}}}
		}, "spec.certificates[0].usages[0]"},
	}
	for i, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			ca := generated("invalid-" + itoa(int32(i)))
			tc.mutate(ca)
			err := c.Create(ctx, ca)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: got %v, want an Invalid error", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("rejection %q does not mention %q", err.Error(), tc.message)
			}
			if getErr := c.Get(ctx, client.ObjectKeyFromObject(ca), &v1alpha1.CertificateAuthority{}); !apierrors.IsNotFound(getErr) {
				t.Errorf("rejected object exists anyway: get returned %v", getErr)
			}
		})
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// dur returns the Duration that decodes from text s (valid or not).
func dur(t *testing.T, s string) *v1alpha1.Duration {
	t.Helper()
	d := &v1alpha1.Duration{}
	if err := json.Unmarshal([]byte(strconv.Quote(s)), d); err != nil {
		t.Fatal(err)
	}
	return d
}
