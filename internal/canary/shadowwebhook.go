package canary

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// shadowDeny denies a write of the canary during the shadow step and, unless
// it is a dry run (handover's own enforcement probe), records it in
// w.Shadow.
func (w *Webhook) shadowDeny(cc *v1alpha1.ControllerCanary, req *admission.Request) admission.Response {
	if w.Shadow != nil && (req.DryRun == nil || !*req.DryRun) {
		w.Shadow.Record(w.Cluster, &req.AdmissionRequest)
	}
	key := req.Name
	if req.Namespace != "" {
		key = req.Namespace + "/" + req.Name
	}
	where := ""
	if w.Cluster != "" {
		where = " in member cluster " + w.Cluster
	}
	return w.decide(Verdict{
		Revision: cc.Spec.Canary.Revision, Operation: req.Operation, Resource: req.Resource.Resource, Key: key,
		Owner: cc.Spec.Stable.Revision, Shadow: true,
		Reason: fmt.Sprintf("controller canary %s: shadow run: revision %s may not %s %s %s%s; the write is recorded (handover canary diff %s)",
			cc.Name, cc.Spec.Canary.Revision, req.Operation, req.Resource.Resource, key, where, cc.Name),
	})
}

// isMain reports whether group/resource is one of spec's main resources.
func isMain(spec *v1alpha1.ControllerCanarySpec, group, resource string) bool {
	for _, r := range spec.Resources {
		if r.Group == group && r.Resource == resource {
			return true
		}
	}
	return false
}
