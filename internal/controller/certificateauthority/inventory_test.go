package certificateauthority

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/handover-dev/handover/api/v1alpha1"
)

func TestUndeclared(t *testing.T) {
	t.Parallel()
	targets := []Target{{v1alpha1.TargetSecret, "ns", "gw-tls"}, {v1alpha1.TargetConfigMap, "ns", "bundle"}}
	declared := []DeclaredSelector{{Namespace: "ns", Selector: labels.SelectorFromSet(labels.Set{"app": "gw"})}}
	pod := func(name string, lbl map[string]string, spec corev1.PodSpec) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: lbl}, Spec: spec}
	}
	secretVol := corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gw-tls"}}}}}
	tests := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"declared secret volume", pod("gw-1", map[string]string{"app": "gw"}, secretVol), false},
		{"undeclared secret volume", pod("x", map[string]string{"app": "other"}, secretVol), true},
		{"configMap volume", pod("cm", nil, corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "bundle"}}}}}}), true},
		{"secret named like the configMap", pod("s", nil, corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "bundle"}}}}}), false},
		{"projected", pod("p", nil, corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gw-tls"}}}}}}}}}), true},
		{"env valueFrom", pod("e", nil, corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{{Name: "CA", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "bundle"}, Key: "ca.crt"}}}}}}}), true},
		{"envFrom in init container", pod("i", nil, corev1.PodSpec{InitContainers: []corev1.Container{{Name: "c", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gw-tls"}}}}}}}), true},
		{"unrelated", pod("u", nil, corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "other"}}}}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Undeclared([]corev1.Pod{tt.pod}, targets, declared)
			if (len(got) == 1) != tt.want {
				t.Fatalf("Undeclared = %v, want reported=%v", got, tt.want)
			}
		})
	}
	other := pod("x", nil, secretVol)
	other.Namespace = "elsewhere"
	if got := Undeclared([]corev1.Pod{other}, targets, declared); len(got) != 0 {
		t.Fatalf("pod in another namespace reported: %v", got)
	}
}
