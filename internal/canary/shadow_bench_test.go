package canary_test

import (
	"context"
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/handover-dev/handover/api/v1alpha1"
	"github.com/handover-dev/handover/internal/canary"
)

// BenchmarkShadowDeny measures the webhook's own cost of one shadow
// decision (decode, diff, record, deny) for a delete and for an update of
// a ~1 KiB object, with the ControllerCanary already read (the operator
// reads it from its cache). The apiserver round trip comes on top; the demo
// reports what the whole denied request rate costs (shadow-bad's
// canary_requests_per_s):
//
//	go test -run '^$' -bench BenchmarkShadowDeny ./internal/canary/
func BenchmarkShadowDeny(b *testing.B) {
	cc := canaryAtDefaults("bench")
	cc.Spec.Shadow = &v1alpha1.CanaryShadow{MaxObjects: 1000}
	cc.Annotations = map[string]string{v1alpha1.AnnotationShadow: "true"}
	log := canary.NewShadowLog(cc, nil)
	wh := &canary.Webhook{
		Canary: func(context.Context) (*v1alpha1.ControllerCanary, error) { return cc, nil },
		Ledger: canary.NewLedger(canary.BudgetOf(cc), nil, nil), Shadow: log,
	}
	data := map[string]string{}
	for i := range 32 {
		data[fmt.Sprintf("key-%02d", i)] = "value-value-value-value"
	}
	old := cmJSON(b, "1", data, false)
	data["key-00"] = "changed"
	upd := cmJSON(b, "1", data, false)
	for _, c := range []struct {
		name string
		op   admissionv1.Operation
		obj  []byte
	}{{"delete", admissionv1.Delete, nil}, {"update", admissionv1.Update, upd}} {
		b.Run(c.name, func(b *testing.B) {
			req := admission.Request{AdmissionRequest: *shadowReq(c.op, "configmaps", "ns", "c", old, c.obj)}
			req.UserInfo = authenticationv1.UserInfo{Username: userV2}
			for i := 0; b.Loop(); i++ {
				req.Name = fmt.Sprintf("c-%d", i%2000)
				if resp := wh.Handle(context.Background(), req); resp.Allowed {
					b.Fatal("shadow allowed a canary write")
				}
			}
		})
	}
}
