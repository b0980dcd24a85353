package kubeletsim

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Kind of a volume source object.
const (
	KindSecret    = "Secret"
	KindConfigMap = "ConfigMap"
)

// item maps one key of the source object to a file name in the volume.
type item struct{ key, path string }

// source is one object a volume projects: all its keys (items nil) or the
// listed items.
type source struct {
	kind, namespace, name string
	items                 []item
	optional              bool
}

// volumeSpec is one Secret, ConfigMap or projected volume of a pod.
type volumeSpec struct {
	name    string
	sources []source
}

// objectData is the content of one source object (Secret data, ConfigMap
// data and binaryData), nil when the object does not exist.
type objectData map[string][]byte

// podVolumes returns the Secret, ConfigMap and projected volumes of pod, in
// spec order. Other volume types (emptyDir, downwardAPI, projected
// serviceAccountToken sources, ...) are skipped: the simulator does not
// emulate them. Items whose path contains a slash are flattened to their
// base name (the simulator's volumes are flat directories).
func podVolumes(pod *corev1.Pod) []volumeSpec {
	var out []volumeSpec
	for _, v := range pod.Spec.Volumes {
		var srcs []source
		switch {
		case v.Secret != nil:
			srcs = append(srcs, source{KindSecret, pod.Namespace, v.Secret.SecretName, items(v.Secret.Items), ptrTrue(v.Secret.Optional)})
		case v.ConfigMap != nil:
			srcs = append(srcs, source{KindConfigMap, pod.Namespace, v.ConfigMap.Name, items(v.ConfigMap.Items), ptrTrue(v.ConfigMap.Optional)})
		case v.Projected != nil:
			for _, p := range v.Projected.Sources {
				switch {
				case p.Secret != nil:
					srcs = append(srcs, source{KindSecret, pod.Namespace, p.Secret.Name, items(p.Secret.Items), ptrTrue(p.Secret.Optional)})
				case p.ConfigMap != nil:
					srcs = append(srcs, source{KindConfigMap, pod.Namespace, p.ConfigMap.Name, items(p.ConfigMap.Items), ptrTrue(p.ConfigMap.Optional)})
				}
			}
		}
		if len(srcs) > 0 {
			out = append(out, volumeSpec{name: v.Name, sources: srcs})
		}
	}
	return out
}

func items(kp []corev1.KeyToPath) []item {
	if len(kp) == 0 {
		return nil
	}
	out := make([]item, 0, len(kp))
	for _, k := range kp {
		out = append(out, item{key: k.Key, path: path.Base(k.Path)})
	}
	return out
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// payload computes the files of a volume from its sources' content (lookup
// returns nil for an object that does not exist). A missing non-optional
// object or a missing listed item of a non-optional object yields an error
// wrapping ErrMissingSource that names the object; optional ones contribute
// nothing. Later sources overwrite earlier ones on a name clash, as the
// kubelet's projection does. An empty result (only optional sources, all
// missing) is also ErrMissingSource: fleet.Volume needs at least one file.
func payload(v volumeSpec, lookup func(kind, namespace, name string) objectData) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, s := range v.sources {
		data := lookup(s.kind, s.namespace, s.name)
		if data == nil {
			if s.optional {
				continue
			}
			return nil, fmt.Errorf("%w: volume %s: %s %s/%s", ErrMissingSource, v.name, s.kind, s.namespace, s.name)
		}
		if s.items == nil {
			for k, b := range data {
				if strings.HasPrefix(k, "..") || strings.Contains(k, "/") {
					continue
				}
				files[k] = b
			}
			continue
		}
		for _, it := range s.items {
			b, ok := data[it.key]
			if !ok {
				if s.optional {
					continue
				}
				return nil, fmt.Errorf("%w: volume %s: %s %s/%s has no key %q", ErrMissingSource, v.name, s.kind, s.namespace, s.name, it.key)
			}
			files[it.path] = b
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: volume %s: no files", ErrMissingSource, v.name)
	}
	return files, nil
}

// references reports whether v projects the object.
func (v volumeSpec) references(kind, namespace, name string) bool {
	for _, s := range v.sources {
		if s.kind == kind && s.namespace == namespace && s.name == name {
			return true
		}
	}
	return false
}
