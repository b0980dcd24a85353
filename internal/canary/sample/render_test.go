package sample

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestChildAndCorrect(t *testing.T) {
	t.Parallel()
	r := &Route{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r", UID: "u1"}, Spec: RouteSpec{Host: "h.example", Backend: "10.0.0.1:80"}}
	v1, v3 := Child(r, V1), Child(r, V3)
	if ref := metav1.GetControllerOf(v1); v1.Name != "r-route" || ref == nil || ref.Name != "r" || ref.UID != "u1" || v1.Labels[LabelRoute] != "r" {
		t.Fatalf("child = %s, controller %v, labels %v", v1.Name, ref, v1.Labels)
	}
	if _, ok := v1.Data["format"]; ok || v3.Data["format"] != V3 {
		t.Fatalf("format key: v1 %v, v3 %v", v1.Data, v3.Data)
	}
	cases := []struct {
		name string
		data map[string]string
		want bool
	}{
		{"v1 rendering", v1.Data, true},
		{"v3 rendering", v3.Data, true},
		{"wrong backend", map[string]string{"host": "h.example", "backend": "x"}, false},
		{"unknown key", map[string]string{"host": "h.example", "backend": "10.0.0.1:80", "extra": "1"}, false},
		{"bad format", map[string]string{"host": "h.example", "backend": "10.0.0.1:80", "format": "v9"}, false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := Correct(&corev1.ConfigMap{Data: c.data}, r); got != c.want {
				t.Fatalf("Correct(%v) = %v, want %v", c.data, got, c.want)
			}
		})
	}
}
