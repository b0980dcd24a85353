package canary

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// DefaultShadowNamespace holds the shadow records when Config.ShadowNamespace
// is empty: handover's own namespace.
const DefaultShadowNamespace = "handover-system"

// ShadowRecordKey is the ConfigMap data key of a stored ShadowRecord.
const ShadowRecordKey = "record.json"

// maxRecordBytes keeps a stored record under the ConfigMap limit (1 MiB)
// with room for metadata.
const maxRecordBytes = 900 << 10

// ShadowRecordName is the name of the ConfigMap holding the shadow record
// of the ControllerCanary named canary.
func ShadowRecordName(canary string) string { return "handover-canary-" + canary + "-shadow" }

// EncodeShadowRecord marshals rec for a ConfigMap: as is when it fits
// 900 KiB, else without objects and patches (PayloadsStripped), else with
// only as many entries as fit (the rest counted in Dropped). Pure.
func EncodeShadowRecord(rec *ShadowRecord) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil || len(b) <= maxRecordBytes {
		return b, err
	}
	r := *rec
	r.PayloadsStripped = true
	r.Entries = make([]ShadowEntry, len(rec.Entries))
	for i, e := range rec.Entries {
		e.Object, e.Patch = nil, nil
		r.Entries[i] = e
	}
	for {
		b, err = json.Marshal(&r)
		if err != nil || len(b) <= maxRecordBytes || len(r.Entries) == 0 {
			return b, err
		}
		cut := max(len(r.Entries)/10, 1)
		r.Entries = r.Entries[:len(r.Entries)-cut]
		r.Dropped += int64(cut)
	}
}

// SaveShadowRecord creates or replaces the ConfigMap
// namespace/ShadowRecordName(rec.Canary) with rec (EncodeShadowRecord). It
// refuses to replace a ConfigMap of that name not labelled
// app.kubernetes.io/managed-by=handover.
func SaveShadowRecord(ctx context.Context, c client.Client, namespace string, rec *ShadowRecord) error {
	b, err := EncodeShadowRecord(rec)
	if err != nil {
		return fmt.Errorf("encode shadow record of controllercanary %s: %w", rec.Canary, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: ShadowRecordName(rec.Canary)}}
	err = c.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	switch {
	case apierrors.IsNotFound(err):
		cm.Labels = map[string]string{"app.kubernetes.io/managed-by": "handover"}
		cm.Data = map[string]string{ShadowRecordKey: string(b)}
		err = c.Create(ctx, cm)
	case err == nil && cm.Labels["app.kubernetes.io/managed-by"] != "handover":
		// Never overwrite a ConfigMap handover did not create: a canary's
		// name is chosen by whoever creates it.
		return fmt.Errorf("save shadow record: configmap %s/%s exists and is not managed by handover", namespace, cm.Name)
	case err == nil:
		cm.Data = map[string]string{ShadowRecordKey: string(b)}
		err = c.Update(ctx, cm)
	}
	if err != nil {
		return fmt.Errorf("save shadow record configmap %s/%s: %w", namespace, cm.Name, err)
	}
	return nil
}

// LoadShadowRecord reads the shadow record from the ConfigMap
// namespace/name. Errors name the ConfigMap.
func LoadShadowRecord(ctx context.Context, c client.Reader, namespace, name string) (*ShadowRecord, error) {
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cm); err != nil {
		return nil, fmt.Errorf("read shadow record configmap %s/%s: %w", namespace, name, err)
	}
	raw, ok := cm.Data[ShadowRecordKey]
	if !ok {
		return nil, fmt.Errorf("shadow record configmap %s/%s: no data key %q", namespace, name, ShadowRecordKey)
	}
	var rec ShadowRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return nil, fmt.Errorf("shadow record configmap %s/%s: %w", namespace, name, err)
	}
	return &rec, nil
}

// SetShadowStatus writes status.shadow of the ControllerCanary name (one
// merge patch of the status subresource).
func SetShadowStatus(ctx context.Context, c client.Client, name string, s *v1alpha1.ShadowSummary) error {
	b, err := json.Marshal(map[string]any{"status": map[string]any{"shadow": s}})
	if err != nil {
		return err
	}
	cc := &v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Status().Patch(ctx, cc, client.RawPatch("application/merge-patch+json", b)); err != nil {
		return fmt.Errorf("controllercanary %s: write status.shadow: %w", name, err)
	}
	return nil
}

// SetShadowAnnotation sets (on) or removes AnnotationShadow on the
// ControllerCanary name: one merge patch; the policy and the webhook read
// it.
func SetShadowAnnotation(ctx context.Context, c client.Client, name string, on bool) error {
	var val any
	if on {
		val = "true"
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationShadow: val}}})
	cc := &v1alpha1.ControllerCanary{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Patch(ctx, cc, client.RawPatch("application/merge-patch+json", b)); err != nil {
		return fmt.Errorf("controllercanary %s: set annotation %s=%t: %w", name, v1alpha1.AnnotationShadow, on, err)
	}
	return nil
}
