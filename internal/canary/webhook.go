package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// Verdict is one decision of the webhook, reported to Webhook.OnDecision.
type Verdict struct {
	Revision  string // caller's revision
	Operation admissionv1.Operation
	Resource  string // "configmaps", "routes"
	Key       string // namespace/name
	Owner     string // revision that owns the object
	Allowed   bool
	Reason    string // why it was denied ("" when allowed)
	Budget    bool   // denied by the deletion budget
	Shadow    bool   // denied (and recorded) by the shadow step
}

// Webhook is the validating webhook of one ControllerCanary: it decides what
// the admission policy cannot — who owns a child (its controller owner's
// label, looked up through Reader) and whether a delete fits the budget
// (Ledger). See WebhookConfiguration for what reaches it.
type Webhook struct {
	// Canary returns the current ControllerCanary (a cached read).
	Canary func(ctx context.Context) (*v1alpha1.ControllerCanary, error)
	// Reader reads owners' metadata (a cached client in production).
	Reader client.Reader
	// Ledger counts deletes per revision and holds the breakers.
	Ledger *Ledger
	// Kinds maps each main resource's GroupKind to its GroupVersionKind
	// (from CheckResources): a child's controller owner of one of these
	// kinds decides the child's owner.
	Kinds map[schema.GroupKind]schema.GroupVersionKind
	// Children are the controlled resources' kinds (from CheckResources):
	// deleting a main object is charged 1 + its controlled children, which
	// the garbage collector deletes after it.
	Children []schema.GroupVersionKind
	// OnDecision, when set, is called for every decision (counting denied
	// writes, recording the demo's timeline). Must be safe for concurrent use.
	OnDecision func(Verdict)
	// Shadow, when set, records the canary's writes while the shadow step
	// runs (ShadowActive); they are denied with or without it.
	Shadow *ShadowLog
	// Cluster names the member cluster this webhook serves ("" = home);
	// it tags the shadow record.
	Cluster string

	once sync.Once
	h    http.Handler
}

// ServeHTTP serves AdmissionReview v1 through controller-runtime's
// admission.Webhook.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.once.Do(func() { w.h = &admission.Webhook{Handler: admission.HandlerFunc(w.Handle)} })
	w.h.ServeHTTP(rw, r)
}

// Handle decides one request. The caller's revision comes from its
// username; a request of neither version is allowed (matchConditions keep
// them away anyway). The owner is the controller owner's revision for a
// child of a main kind, else the object's own label (RevisionOf, honouring
// spec.revert). A version may not touch what the other owns; a delete the
// owner may do is then charged to the budget, which may deny it and open the
// breaker. Lookup errors are returned as errors (denied with 500: the
// canary's webhook fails closed).
func (w *Webhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	cc, err := w.Canary(ctx)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("read controller canary: %w", err))
	}
	spec := &cc.Spec
	var caller string
	switch req.UserInfo.Username {
	case spec.Canary.Identity:
		caller = spec.Canary.Revision
	case spec.Stable.Identity:
		caller = spec.Stable.Revision
	default:
		return admission.Allowed("")
	}
	if caller == spec.Canary.Revision && ShadowActive(cc) {
		return w.shadowDeny(cc, &req)
	}
	if w.Cluster != "" {
		if reason := memberLabelMove(cc, caller, &req); reason != "" {
			return w.decide(Verdict{Revision: caller, Operation: req.Operation, Resource: req.Resource.Resource, Key: req.Namespace + "/" + req.Name, Reason: reason})
		}
	}
	if req.Operation == admissionv1.Create && isMain(spec, req.Resource.Group, req.Resource.Resource) {
		// Main objects' creates reach the webhook only for the shadow
		// record; outside the shadow nobody owns a new main object yet.
		return w.decide(Verdict{Revision: caller, Operation: req.Operation, Resource: req.Resource.Resource, Key: req.Namespace + "/" + req.Name, Allowed: true})
	}
	raw := req.Object.Raw
	if req.Operation == admissionv1.Delete || (req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0) {
		// Ownership is decided on the stored object: a write may not move
		// an object to its writer.
		raw = req.OldObject.Raw
	}
	var obj metav1.PartialObjectMetadata
	if err := json.Unmarshal(raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode %s %s/%s: %w", req.Resource.Resource, req.Namespace, req.Name, err))
	}
	if obj.Namespace == "" {
		obj.Namespace = req.Namespace
	}
	owner, ownerDesc, err := w.owner(ctx, cc, &obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	v := Verdict{Revision: caller, Operation: req.Operation, Resource: req.Resource.Resource, Key: req.Namespace + "/" + req.Name, Owner: owner}
	if v.Key == req.Namespace+"/" {
		v.Key = req.Namespace + "/" + obj.Name
	}
	if owner != caller {
		v.Reason = fmt.Sprintf("controller canary %s: %s (revision %s) may not %s %s %s: %s belongs to revision %s",
			cc.Name, req.UserInfo.Username, caller, req.Operation, req.Resource.Resource, v.Key, ownerDesc, owner)
		return w.decide(v)
	}
	if req.Operation == admissionv1.Delete {
		n := 1
		if metav1.GetControllerOf(&obj) == nil {
			kids, err := w.children(ctx, &obj)
			if err != nil {
				return admission.Errored(http.StatusInternalServerError, err)
			}
			n += kids
		}
		if ok, reason := w.Ledger.DeleteN(caller, n); !ok {
			v.Reason = fmt.Sprintf("controller canary %s: %s (revision %s) may not delete %s %s: %s", cc.Name, req.UserInfo.Username, caller, req.Resource.Resource, v.Key, reason)
			v.Budget = true
			return w.decide(v)
		}
	}
	v.Allowed = true
	return w.decide(v)
}

func (w *Webhook) decide(v Verdict) admission.Response {
	if w.OnDecision != nil {
		w.OnDecision(v)
	}
	if v.Allowed {
		return admission.Allowed("")
	}
	return admission.Denied(v.Reason)
}

// children counts the objects of w.Children in obj's namespace whose
// controller owner is obj (by UID).
func (w *Webhook) children(ctx context.Context, obj *metav1.PartialObjectMetadata) (int, error) {
	n := 0
	for _, gvk := range w.Children {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := w.Reader.List(ctx, &list, client.InNamespace(obj.Namespace)); err != nil {
			return 0, fmt.Errorf("count children of %s/%s: %w", obj.Namespace, obj.Name, err)
		}
		for i := range list.Items {
			if ref := metav1.GetControllerOf(&list.Items[i]); ref != nil && ref.UID == obj.UID {
				n++
			}
		}
	}
	return n, nil
}

// owner returns the revision owning obj and what decided it ("its owner
// routes/x" or "it").
func (w *Webhook) owner(ctx context.Context, cc *v1alpha1.ControllerCanary, obj *metav1.PartialObjectMetadata) (string, string, error) {
	spec := &cc.Spec
	ref := metav1.GetControllerOf(obj)
	if ref == nil {
		return RevisionOf(obj.Labels, v1alpha1.LabelControllerRevision, spec.Stable.Revision, spec.Revert), "it", nil
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return RevisionOf(obj.Labels, v1alpha1.LabelControllerRevision, spec.Stable.Revision, spec.Revert), "it", nil
	}
	gvk, ok := w.Kinds[schema.GroupKind{Group: gv.Group, Kind: ref.Kind}]
	if !ok {
		return RevisionOf(obj.Labels, v1alpha1.LabelControllerRevision, spec.Stable.Revision, spec.Revert), "it", nil
	}
	var o metav1.PartialObjectMetadata
	o.SetGroupVersionKind(gvk)
	desc := fmt.Sprintf("its owner %s %s/%s", ref.Kind, obj.Namespace, ref.Name)
	if err := w.Reader.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: ref.Name}, &o); err != nil {
		if apierrors.IsNotFound(err) {
			// The owner is gone: the garbage collector will delete the
			// child; until then it is stable's.
			return spec.Stable.Revision, desc + " (gone)", nil
		}
		return "", "", fmt.Errorf("read %s: %w", desc, err)
	}
	return RevisionOf(o.Labels, v1alpha1.LabelControllerRevision, spec.Stable.Revision, spec.Revert), desc, nil
}
