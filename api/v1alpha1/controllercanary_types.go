package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelControllerRevision is the ownership label of the controller canary:
// its value is the revision (ControllerVersion.Revision) that owns the
// object. An object without it belongs to the stable revision; a child (an
// object with a controller ownerReference) belongs to whoever owns its
// controller.
const LabelControllerRevision = "handover.dev/controller-revision"

// Labels of the drain handshake (ControllerVersion.AcknowledgesDrain):
// handover sets LabelDrain to the revision an object is being handed to;
// the version that owns it sets LabelDrainAck to its own revision once it
// let go; handover then changes the owner and removes both.
const (
	LabelDrain    = "handover.dev/drain"
	LabelDrainAck = "handover.dev/drain-ack"
)

// AnnotationPromote on a ControllerCanary, set to "true" (by `handover
// canary promote`), ends the running and the remaining steps' pauses: the
// plan goes on as soon as each step's gates pass, up to promotion.
const AnnotationPromote = "handover.dev/promote"

// Condition types of a ControllerCanary (besides ConditionDegraded).
const (
	// CanaryConditionValid is False when the spec cannot be acted on
	// (unknown resource, same identity for both versions, a selector that
	// matches nothing); nothing is changed while it is False.
	CanaryConditionValid = "Valid"
	// CanaryConditionProgressing is True while the canary's plan runs.
	CanaryConditionProgressing = "Progressing"
	// CanaryConditionBreakerOpen is True once the deletion budget was
	// exceeded: the canary's deletes are refused and the plan rolls back.
	CanaryConditionBreakerOpen = "BreakerOpen"
)

// ControllerVersion is one version of the controller: its revision name and
// the identity its apiserver requests carry.
type ControllerVersion struct {
	// Revision names the version; it is the value of the ownership label
	// handover.dev/controller-revision (a label value: ≤ 63 characters,
	// alphanumerics, '-', '_', '.').
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	Revision string `json:"revision"`
	// Identity is the username the version's requests authenticate as:
	// "system:serviceaccount:<namespace>:<name>" for a ServiceAccount, or a
	// user name for a process outside the cluster.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Identity string `json:"identity"`
	// MetricsEndpoint is an optional http(s) URL of the version's
	// controller-runtime metrics (controller_runtime_reconcile_total,
	// controller_runtime_reconcile_errors_total), read by the error-ratio gate.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	MetricsEndpoint string `json:"metricsEndpoint,omitempty"`
	// AcknowledgesDrain says the version runs pkg/canary's drain handshake:
	// before one of its objects is handed to the other version, handover
	// labels it handover.dev/drain=<new revision> and waits until the
	// version, having stopped reconciling it, labels it
	// handover.dev/drain-ack=<its revision>; only then does the ownership
	// label change. Read on spec.stable (objects move from stable to canary;
	// a revert never waits).
	// +optional
	AcknowledgesDrain bool `json:"acknowledgesDrain,omitempty"`
}

// CanaryResource is one GroupVersionResource of the controller's objects.
type CanaryResource struct {
	// Group is the API group ("" for the core group).
	// +optional
	Group string `json:"group,omitempty"`
	// Version is the API version, e.g. "v1".
	// +kubebuilder:validation:MinLength=1
	Version string `json:"version"`
	// Resource is the plural resource name, e.g. "routes".
	// +kubebuilder:validation:MinLength=1
	Resource string `json:"resource"`
	// NamespaceSelector limits the canary to objects in matching namespaces;
	// nil selects every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// ObjectSelector limits the canary to matching objects; nil selects all.
	// +optional
	ObjectSelector *metav1.LabelSelector `json:"objectSelector,omitempty"`
}

// CanaryStep is one step of the rollout: hand Weight percent of the objects
// to the canary, run the gates, then wait Pause.
type CanaryStep struct {
	// Weight is the percentage (0-100) of objects the canary owns after the
	// step, chosen by a consistent hash of group/kind/namespace/name.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
	// Pause is how long the gates must hold after the step before the next
	// one; nil or zero goes on as soon as the gates pass.
	// +optional
	Pause *metav1.Duration `json:"pause,omitempty"`
}

// CanaryAnalysis are the gates every step must pass and that hold for the
// whole run until promotion (a breach at any time rolls back).
type CanaryAnalysis struct {
	// ReconciledCondition is the condition type on the main objects that
	// says the canary reconciled an object (e.g. "Ready"); empty uses
	// status.observedGeneration == metadata.generation.
	// +optional
	ReconciledCondition string `json:"reconciledCondition,omitempty"`
	// ReconcileTimeout is how long after a step handed objects over the
	// canary may take to reconcile every object it owns (the reconciled
	// gate); past it the step fails and the plan rolls back.
	// +kubebuilder:default="5m"
	// +optional
	ReconcileTimeout *metav1.Duration `json:"reconcileTimeout,omitempty"`
	// MaxErrorPercent is the highest reconcile error ratio (errors/total, in
	// percent, from the canary's metrics endpoint) a step accepts.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxErrorPercent int32 `json:"maxErrorPercent,omitempty"`
	// MaxDeniedWrites is how many writes of the canary the enforcement may
	// deny before the step fails; nil does not gate on denied writes.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxDeniedWrites *int32 `json:"maxDeniedWrites,omitempty"`
}

// DeletionBudget bounds the deletes of each version in a sliding window.
// Past it the webhook refuses the delete, opens the breaker and the plan
// rolls back.
type DeletionBudget struct {
	// MaxDeletes is the number of deletes allowed per version in Window.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxDeletes *int32 `json:"maxDeletes,omitempty"`
	// Window is the length of the sliding window.
	// +kubebuilder:default="1m"
	// +optional
	Window *metav1.Duration `json:"window,omitempty"`
}

// ControllerCanarySpec is the desired canary of one controller.
//
// +kubebuilder:validation:XValidation:rule="self.stable.identity != self.canary.identity",message="stable.identity and canary.identity must differ: enforcement tells the versions apart by identity"
// +kubebuilder:validation:XValidation:rule="self.stable.revision != self.canary.revision",message="stable.revision and canary.revision must differ"
type ControllerCanarySpec struct {
	// Stable is the version that owns every object today.
	Stable ControllerVersion `json:"stable"`
	// Canary is the version objects are handed to.
	Canary ControllerVersion `json:"canary"`
	// Resources are the controller's main resources; their objects are
	// assigned by weight.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Resources []CanaryResource `json:"resources"`
	// ControlledResources are the resources of the children the controller
	// creates (with a controller ownerReference); a child follows its owner.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	ControlledResources []CanaryResource `json:"controlledResources,omitempty"`
	// Steps are the rollout; the last step at weight 100 is the promotion
	// (the point of no return). Weights must not decrease (checked by
	// handover; the default is 5, 25, 50, 100).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +kubebuilder:default={{weight: 5},{weight: 25},{weight: 50},{weight: 100}}
	// +optional
	Steps []CanaryStep `json:"steps,omitempty"`
	// Analysis are the gates.
	// +kubebuilder:default={}
	// +optional
	Analysis CanaryAnalysis `json:"analysis,omitempty"`
	// DeletionBudget bounds deletes per version.
	// +kubebuilder:default={}
	// +optional
	DeletionBudget DeletionBudget `json:"deletionBudget,omitempty"`
	// Revert is the single switch: true hands every object back to the
	// stable version at once (the enforcement policy reads it as a
	// parameter), then handover relabels in the background.
	// +optional
	Revert bool `json:"revert,omitempty"`
	// Paused stops the rollout after the current step; enforcement stays.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// VersionCount is a count per revision.
type VersionCount struct {
	// Revision is ControllerVersion.Revision.
	Revision string `json:"revision"`
	// Count is the number of objects (owned) or deletes (in the window).
	Count int64 `json:"count"`
}

// BreakerStatus is the deletion breaker.
type BreakerStatus struct {
	// Open is true once a version exceeded the deletion budget.
	Open bool `json:"open"`
	// Revision is the version whose breaker opened.
	// +optional
	Revision string `json:"revision,omitempty"`
	// Reason says which delete exceeded which budget.
	// +optional
	Reason string `json:"reason,omitempty"`
	// OpenedAt is when it opened.
	// +optional
	OpenedAt *metav1.Time `json:"openedAt,omitempty"`
}

// GateVerdict is the last verdict of one gate.
type GateVerdict struct {
	// Name is the gate: Reconciled, ErrorRatio, DeniedWrites, DeletionBudget.
	Name string `json:"name"`
	// Verdict is Done, NotYet or Failed (internal/plan.CheckState).
	Verdict string `json:"verdict"`
	// Message explains it.
	// +optional
	Message string `json:"message,omitempty"`
	// At is when it was evaluated.
	At metav1.Time `json:"at"`
}

// ControllerCanaryStatus is the observed state of the canary.
type ControllerCanaryStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Valid, Progressing, BreakerOpen, Degraded.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Phase is Pending, Progressing, Paused, Promoted, RolledBack or Failed.
	// +optional
	Phase string `json:"phase,omitempty"`
	// CurrentStep is the index of the running step in spec.steps.
	// +optional
	CurrentStep int32 `json:"currentStep,omitempty"`
	// Steps are the plan's checkpoint (a restarted controller resumes).
	// +listType=atomic
	// +optional
	Steps []StepStatus `json:"steps,omitempty"`
	// Outcome is how the plan ended: Succeeded (promoted), RolledBack or
	// Failed; empty while it runs.
	// +optional
	Outcome string `json:"outcome,omitempty"`
	// Reason explains the outcome or the running rollback.
	// +optional
	Reason string `json:"reason,omitempty"`
	// RollingBack is true once a failure before promotion started the
	// reverse walk; a restarted controller continues it.
	// +optional
	RollingBack bool `json:"rollingBack,omitempty"`
	// RollbackReason is the failure that started the rollback.
	// +optional
	RollbackReason string `json:"rollbackReason,omitempty"`
	// PauseStep is the step whose pause began at PauseStartedAt (a restarted
	// controller resumes the same wait).
	// +optional
	PauseStep string `json:"pauseStep,omitempty"`
	// PauseStartedAt is when PauseStep's gates first passed.
	// +optional
	PauseStartedAt *metav1.Time `json:"pauseStartedAt,omitempty"`
	// Owned counts the main objects each version owns.
	// +listType=atomic
	// +optional
	Owned []VersionCount `json:"owned,omitempty"`
	// Deletes counts each version's deletes in the current window.
	// +listType=atomic
	// +optional
	Deletes []VersionCount `json:"deletes,omitempty"`
	// Breaker is the deletion breaker.
	// +optional
	Breaker BreakerStatus `json:"breaker,omitempty"`
	// Gates are the last verdicts of the analysis gates.
	// +listType=atomic
	// +optional
	Gates []GateVerdict `json:"gates,omitempty"`
}

// ControllerCanary hands the objects of one controller from its stable
// version to a canary version step by step, with a deletion budget and a
// one-switch revert. Cluster-scoped: the generated admission policy reads
// it as its parameter.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=hcc,categories=handover
// +kubebuilder:printcolumn:name="Stable",type=string,JSONPath=`.spec.stable.revision`
// +kubebuilder:printcolumn:name="Canary",type=string,JSONPath=`.spec.canary.revision`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Revert",type=boolean,JSONPath=`.spec.revert`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ControllerCanary struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ControllerCanarySpec   `json:"spec"`
	Status ControllerCanaryStatus `json:"status,omitempty"`
}

// ControllerCanaryList is a list of ControllerCanary.
//
// +kubebuilder:object:root=true
type ControllerCanaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ControllerCanary `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ControllerCanary{}, &ControllerCanaryList{})
}
