package testenv

import (
	"context"
	"encoding/json"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Annotate sets one annotation on the object obj names (its kind from the
// Go type, namespace and name from its metadata) with a JSON merge patch on
// metadata.annotations only (RFC 7386). Unlike a read-modify-update it cannot
// fail with a conflict when a controller writes the object's status in
// between, and it changes no other field. obj is updated from the response.
// It returns the apiserver's error (NotFound, Forbidden, ...) unchanged.
func Annotate(ctx context.Context, c client.Client, obj client.Object, key, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if err != nil {
		return err
	}
	return c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
}
