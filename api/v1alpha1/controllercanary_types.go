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

// AnnotationShadow on a ControllerCanary, set to "true" by handover while
// the shadow step runs, makes the enforcement deny every write of the canary
// identity and the webhook record what it would have written. The
// admission policy reads it from its param, so it is one write, like
// spec.revert; it only takes effect when spec.shadow is set.
const AnnotationShadow = "handover.dev/shadow"

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
	// APIVersions are the API versions ("group/version", "v1" for core) of
	// the CRDs this version reads; the version-skew preflight refuses CRDs
	// that stop serving one of the stable version's.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	APIVersions []string `json:"apiVersions,omitempty"`
	// LeaderElectionLock is the "namespace/name" of the version's
	// leader-election Lease; the preflight refuses a spec where both
	// versions name the same lock (the canary would take over the stable
	// version's leadership, or wait forever for it).
	// +kubebuilder:validation:MaxLength=317
	// +optional
	LeaderElectionLock string `json:"leaderElectionLock,omitempty"`
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

// CanaryShadow configures the shadow step: before any object is handed
// over, the canary runs against the real cluster, every write it attempts is
// denied, and the webhook records what it would have done.
type CanaryShadow struct {
	// Duration is how long the shadow runs before its gates judge the
	// record.
	// +kubebuilder:default="1m"
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// IncludeStatus records changes of status in update diffs (ignored by
	// default, as are metadata.managedFields, resourceVersion and
	// generation).
	// +optional
	IncludeStatus bool `json:"includeStatus,omitempty"`
	// MaxObjects bounds the record: past it the object seen least recently
	// is dropped first, and the drop is counted.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	MaxObjects int32 `json:"maxObjects,omitempty"`
}

// MemberCluster is a cluster the controller writes into (federation): the
// enforcement is installed there too and its deletes count against the same
// budget.
type MemberCluster struct {
	// Name names the member in status, events and the shadow record.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// KubeconfigSecret is the Secret (in handover's namespace) whose key
	// holds a kubeconfig for the member cluster.
	KubeconfigSecret SecretKeyRef `json:"kubeconfigSecret"`
}

// SecretKeyRef names one key of a Secret in handover's namespace.
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Key in the Secret's data; "kubeconfig" when empty.
	// +optional
	Key string `json:"key,omitempty"`
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
	// MaxShadowDeletes is how many distinct objects the canary may have
	// tried to delete during the shadow step; nil does not gate.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxShadowDeletes *int32 `json:"maxShadowDeletes,omitempty"`
	// MaxShadowUpdatesPercent is the highest share (percent) of the objects
	// in scope the canary may have tried to change during the shadow step
	// (updates with a non-empty diff); nil does not gate.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxShadowUpdatesPercent *int32 `json:"maxShadowUpdatesPercent,omitempty"`
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
	// Shadow, when set, adds a shadow step (weight 0) before the first
	// step: the canary's writes are denied and recorded as a diff, and
	// analysis.maxShadowDeletes / maxShadowUpdatesPercent judge it.
	// +optional
	Shadow *CanaryShadow `json:"shadow,omitempty"`
	// Members are other clusters the controller writes into; enforcement is
	// installed in each and their deletes count against deletionBudget.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +optional
	Members []MemberCluster `json:"members,omitempty"`
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
	// Shadow summarises the shadow step's record (handover canary diff
	// shows it in full).
	// +optional
	Shadow *ShadowSummary `json:"shadow,omitempty"`
}

// ShadowSummary summarises what the canary tried to write during the shadow
// step.
type ShadowSummary struct {
	// Resources counts, per resource, the distinct objects the canary tried
	// to create, change (non-empty diff) and delete, and all attempts.
	// +listType=atomic
	// +optional
	Resources []ShadowResourceCount `json:"resources,omitempty"`
	// Top are the objects with the largest would-be changes (at most 10).
	// +listType=atomic
	// +optional
	Top []ShadowObjectSummary `json:"top,omitempty"`
	// Dropped counts the objects dropped from the bounded record.
	// +optional
	Dropped int64 `json:"dropped,omitempty"`
	// Record is the "namespace/name" of the ConfigMap that holds the full
	// record (JSON).
	// +optional
	Record string `json:"record,omitempty"`
}

// ShadowResourceCount counts the shadow record of one resource.
type ShadowResourceCount struct {
	// Resource is "resource.group" (or "resource" in the core group), with
	// "@member" when it is in a member cluster.
	Resource string `json:"resource"`
	Creates  int64  `json:"creates"`
	Updates  int64  `json:"updates"`
	Deletes  int64  `json:"deletes"`
	// Attempts counts every denied request (a controller retries).
	Attempts int64 `json:"attempts"`
}

// ShadowObjectSummary is one object of the shadow record.
type ShadowObjectSummary struct {
	Resource string `json:"resource"`
	// Key is "namespace/name" ("name" when cluster-scoped).
	Key string `json:"key"`
	// Ops are the operations tried, e.g. "DELETE" or "CREATE,UPDATE".
	Ops string `json:"ops"`
	// ChangeBytes is the size of the would-be change (JSON bytes).
	ChangeBytes int64 `json:"changeBytes"`
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
