package ca

import (
	"bytes"
	"strings"
	"testing"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// TestProgressLineShowsTheGateReason: --wait prints the current step's
// gate reason, so a stuck rotation says why.
func TestProgressLineShowsTheGateReason(t *testing.T) {
	t.Parallel()
	ca := &v1alpha1.CertificateAuthority{Status: v1alpha1.CertificateAuthorityStatus{
		Phase: "Rotating",
		Rotation: &v1alpha1.RotationStatus{Phase: "add-new-ca-to-bundles", Steps: []v1alpha1.StepStatus{
			{Name: "add-new-ca-to-bundles", Phase: "Applying", Reason: "0/1 consumers accept the new CA (hot-reload); waiting for gw; gw: connection refused: dial tcp 127.0.0.1:1: connect: connection refused"},
			{Name: "drop-previous-ca", Phase: "Pending"},
		}},
	}}
	got := progressLine(ca)
	if !strings.Contains(got, "rotation step add-new-ca-to-bundles (0/1 consumers accept the new CA (hot-reload); waiting for gw; gw: connection refused:") {
		t.Fatalf("progressLine = %q", got)
	}
}

// TestDescribeRotateBeforeTheFirstPublish: rotate on a CA that never
// published promises no overlap bundle and no grace period.
func TestDescribeRotateBeforeTheFirstPublish(t *testing.T) {
	t.Parallel()
	ca := &v1alpha1.CertificateAuthority{Spec: v1alpha1.CertificateAuthoritySpec{
		Source:    v1alpha1.CASource{Generate: &v1alpha1.GenerateSource{}},
		Consumers: []v1alpha1.Consumer{{Name: "gw"}},
	}}
	var b bytes.Buffer
	describeRotate(&b, ca)
	if out := b.String(); !strings.Contains(out, "has not published a CA yet") || strings.Contains(out, "old and the new CA") {
		t.Fatalf("describeRotate before the first publish:\n%s", out)
	}
}
