package certificateauthority

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// checkCertManager asks through the access cache: a denial names the verb
// and the subresource, and allowed answers are not asked again on the next
// reconcile (only the denial is).
func TestCheckCertManagerUsesTheAccessCache(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var asked []AccessKey
	r := &Reconciler{Access: NewAccessCache(DefaultAccessPolicy, clk, func(_ context.Context, k AccessKey) (bool, error) {
		asked = append(asked, k)
		return k.Subresource != "status", nil
	})}
	ca := &v1alpha1.CertificateAuthority{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "klm"},
		Spec:       v1alpha1.CertificateAuthoritySpec{CertManager: &v1alpha1.CertManagerLeaves{Certificates: []string{"gw"}}},
	}
	for i, wantAsked := range []int{3, 4} {
		p, err := r.checkCertManager(context.Background(), ca)
		if err != nil {
			t.Fatal(err)
		}
		if p == nil || p.Reason != ReasonTargetForbidden || !strings.Contains(p.Message, "may not update cert-manager.io certificates/status") {
			t.Fatalf("reconcile %d: problem %+v, want TargetForbidden for update certificates/status", i+1, p)
		}
		if len(asked) != wantAsked {
			t.Errorf("reconcile %d: %d access reviews so far, want %d (%v)", i+1, len(asked), wantAsked, asked)
		}
	}
	if k := asked[0]; k.Group != "cert-manager.io" || k.Resource != "certificates" || k.Namespace != "app" {
		t.Errorf("first review %+v, want cert-manager.io certificates in app", k)
	}
}
