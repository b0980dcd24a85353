package testenv

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// KwokDeployment returns a Deployment named name in namespace ns ("" leaves
// the namespace to the client call) with replicas pods labelled app=<name>
// and selected by that label. The pods select the kwok nodes StartCluster
// creates (node selector type=kwok) and run one container <name> with the
// image registry.invalid/<name>:1, which is never pulled (kwok runs pods in
// name only). Callers may add volumes or annotations to the returned object.
func KwokDeployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"type": "kwok"},
					Containers:   []corev1.Container{{Name: name, Image: "registry.invalid/" + name + ":1"}},
				},
			},
		},
	}
}

// MinAvailableBudget returns a PodDisruptionBudget named app in namespace ns
// ("" leaves it to the client call) that keeps at least minAvailable of the
// pods labelled app=<app> (a KwokDeployment's pods) available.
func MinAvailableBudget(ns, app string, minAvailable int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(minAvailable)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
	}
}
