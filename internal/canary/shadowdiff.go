package canary

import (
	"encoding/json"
	"fmt"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
)

// Change is the would-be effect of one denied write (ShadowChange).
type Change struct {
	// Payload is the object of a CREATE, the RFC 6902 patch of an UPDATE
	// (JSON), nil for a DELETE.
	Payload []byte
	// Empty: an UPDATE whose patch is empty once the ignored fields are
	// left out.
	Empty bool
	// Name, UID and ResourceVersion identify the object (a DELETE's
	// identity; a CREATE's name).
	Name, UID, ResourceVersion string
	// Err is set when an object could not be decoded (the write is still
	// counted, without payload).
	Err error
}

// ignoredMetadata are the metadata fields the apiserver (not the
// controller) changes on every write; they are left out of update diffs.
var ignoredMetadata = []string{"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"}

// ShadowChange computes what a denied write would have done: for CREATE the
// object (without the ignoredMetadata fields the apiserver filled in), for UPDATE a JSON patch from the
// stored object (oldRaw) to the written one (newRaw) computed with
// gomodules.xyz/jsonpatch, ignoring status unless includeStatus and the
// ignoredMetadata fields, for DELETE the stored object's identity. Pure.
func ShadowChange(op admissionv1.Operation, oldRaw, newRaw []byte, includeStatus bool) Change {
	var ch Change
	switch op {
	case admissionv1.Create:
		obj, err := decode(newRaw)
		if err != nil {
			return Change{Err: err}
		}
		ch.identify(obj)
		strip(obj, false, ignoredMetadata)
		ch.Payload, ch.Err = json.Marshal(obj)
	case admissionv1.Update:
		oldObj, err := decode(oldRaw)
		if err != nil {
			return Change{Err: err}
		}
		newObj, err := decode(newRaw)
		if err != nil {
			return Change{Err: err}
		}
		ch.identify(oldObj)
		strip(oldObj, !includeStatus, ignoredMetadata)
		strip(newObj, !includeStatus, ignoredMetadata)
		a, _ := json.Marshal(oldObj)
		b, _ := json.Marshal(newObj)
		ops, err := jsonpatch.CreatePatch(a, b)
		if err != nil {
			return Change{Err: fmt.Errorf("diff: %w", err)}
		}
		if len(ops) == 0 {
			ch.Empty = true
			return ch
		}
		ch.Payload, ch.Err = json.Marshal(ops)
	case admissionv1.Delete:
		obj, err := decode(oldRaw)
		if err != nil {
			return Change{Err: err}
		}
		ch.identify(obj)
	}
	return ch
}

func decode(raw []byte) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("no object in the admission request")
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	return m, nil
}

func (ch *Change) identify(obj map[string]any) {
	md, _ := obj["metadata"].(map[string]any)
	ch.Name, _ = md["name"].(string)
	ch.UID, _ = md["uid"].(string)
	ch.ResourceVersion, _ = md["resourceVersion"].(string)
}

// strip removes status (when dropStatus) and the named metadata fields.
func strip(obj map[string]any, dropStatus bool, metadata []string) {
	if dropStatus {
		delete(obj, "status")
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		for _, f := range metadata {
			delete(md, f)
		}
	}
}
