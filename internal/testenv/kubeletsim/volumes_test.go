package kubeletsim

import (
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPodVolumesKeepsSecretConfigMapAndProjectedSourcesInOrder(t *testing.T) {
	t.Parallel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "leaf"}}},
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "bundle"}, Optional: ptr.To(true),
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "sub/ca.pem"}},
			}}},
			{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}},
			}}}},
			{Name: "token-only", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			}}}},
		}},
	}
	want := []volumeSpec{
		{name: "tls", sources: []source{{kind: KindSecret, namespace: "ns", name: "leaf"}}},
		{name: "cfg", sources: []source{{kind: KindConfigMap, namespace: "ns", name: "bundle", items: []item{{"ca.crt", "ca.pem"}}, optional: true}}},
		{name: "proj", sources: []source{{kind: KindSecret, namespace: "ns", name: "s"}, {kind: KindConfigMap, namespace: "ns", name: "c"}}},
	}
	if got := podVolumes(pod); !reflect.DeepEqual(got, want) {
		t.Fatalf("podVolumes:\n got %+v\nwant %+v", got, want)
	}
}

func TestPayload(t *testing.T) {
	t.Parallel()
	objects := map[string]objectData{
		"Secret/ns/leaf":   {"tls.crt": []byte("C"), "tls.key": []byte("K"), "ca.crt": []byte("A"), "..hidden": []byte("x")},
		"ConfigMap/ns/cfg": {"ca.crt": []byte("B"), "other": []byte("O")},
	}
	lookup := func(kind, ns, name string) objectData { return objects[kind+"/"+ns+"/"+name] }
	leaf := source{kind: KindSecret, namespace: "ns", name: "leaf"}
	cfg := source{kind: KindConfigMap, namespace: "ns", name: "cfg"}
	missing := source{kind: KindSecret, namespace: "ns", name: "nope"}
	tests := []struct {
		name    string
		sources []source
		want    map[string][]byte
		wantErr error
	}{
		{"all keys, hidden ones skipped", []source{leaf},
			map[string][]byte{"tls.crt": []byte("C"), "tls.key": []byte("K"), "ca.crt": []byte("A")}, nil},
		{"items select and rename", []source{{kind: KindConfigMap, namespace: "ns", name: "cfg", items: []item{{"ca.crt", "bundle.pem"}}}},
			map[string][]byte{"bundle.pem": []byte("B")}, nil},
		{"later source wins a clash", []source{leaf, {kind: KindConfigMap, namespace: "ns", name: "cfg", items: []item{{"ca.crt", "ca.crt"}}}},
			map[string][]byte{"tls.crt": []byte("C"), "tls.key": []byte("K"), "ca.crt": []byte("B")}, nil},
		{"missing object", []source{leaf, missing}, nil, ErrMissingSource},
		{"missing optional object contributes nothing", []source{leaf, {kind: KindSecret, namespace: "ns", name: "nope", optional: true}},
			map[string][]byte{"tls.crt": []byte("C"), "tls.key": []byte("K"), "ca.crt": []byte("A")}, nil},
		{"missing item", []source{{kind: KindConfigMap, namespace: "ns", name: "cfg", items: []item{{"nokey", "x"}}}}, nil, ErrMissingSource},
		{"only missing optional sources", []source{{kind: KindSecret, namespace: "ns", name: "nope", optional: true}}, nil, ErrMissingSource},
		{"configmap all keys", []source{cfg}, map[string][]byte{"ca.crt": []byte("B"), "other": []byte("O")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := payload(volumeSpec{name: "v", sources: tt.sources}, lookup)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("payload = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDigestSeparatesNamesFromContent(t *testing.T) {
	t.Parallel()
	a := digest(map[string][]byte{"ab": []byte("c")})
	b := digest(map[string][]byte{"a": []byte("bc")})
	c := digest(map[string][]byte{"ab": []byte("c")})
	if a == b {
		t.Error("digest does not separate name and content")
	}
	if a != c {
		t.Error("digest is not deterministic")
	}
}

func TestDrawDelayIsBoundedAndRepeatsPerSeed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		max  time.Duration
	}{
		{"zero bound is immediate", 0},
		{"negative bound is immediate", -time.Second},
		{"one nanosecond", time.Nanosecond},
		{"one second", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b, other := newRand(42), newRand(42), newRand(43)
			differs := false
			for range 1000 {
				da, db, do := drawDelay(a, tt.max), drawDelay(b, tt.max), drawDelay(other, tt.max)
				if da != db {
					t.Fatalf("same seed gave %s and %s", da, db)
				}
				if da < 0 || da > max(tt.max, 0) {
					t.Fatalf("delay %s outside [0, %s]", da, tt.max)
				}
				differs = differs || da != do
			}
			if tt.max >= time.Second && !differs {
				t.Error("seeds 42 and 43 drew the same 1000 delays")
			}
		})
	}
}
