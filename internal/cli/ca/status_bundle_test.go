package ca

import (
	"bytes"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// status shows every previous CA (maxCAs above 2) and, when a
// namespaceSelector target reaches namespaces, how many.
func TestStatusShowsPreviousCAsAndBundleNamespaces(t *testing.T) {
	t.Parallel()
	ca := &v1alpha1.CertificateAuthority{ObjectMeta: metav1.ObjectMeta{Name: "org", Namespace: "trust-home"}}
	ca.Status.Active = &v1alpha1.CAInfo{Subject: "CN=C", Fingerprint: "CC"}
	ca.Status.Previous = []v1alpha1.CAInfo{{Subject: "CN=B", Fingerprint: "BB"}, {Subject: "CN=A", Fingerprint: "AA"}}
	ca.Status.TrustBundleNamespaces = 101
	var buf bytes.Buffer
	if err := renderStatus(&buf, ca); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Bundle namespaces:", "101", "CN=B", "CN=A"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	ca.Status.TrustBundleNamespaces = 0
	buf.Reset()
	if err := renderStatus(&buf, ca); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "Bundle namespaces:") {
		t.Errorf("status shows bundle namespaces without a namespaceSelector target:\n%s", buf.String())
	}
}
