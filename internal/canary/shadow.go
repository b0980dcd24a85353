package canary

import (
	"container/list"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/api/v1alpha1"
)

// DefaultShadowMaxObjects bounds a shadow record when
// spec.shadow.maxObjects is unset.
const DefaultShadowMaxObjects = 1000

// maxPayloadBytes caps one entry's stored object or patch; a larger one is
// kept as its size only (Truncated).
const maxPayloadBytes = 16 << 10

// ShadowEntry is what the canary tried to do to one object during the
// shadow step: attempts per operation and the last would-be change.
type ShadowEntry struct {
	// Cluster is the member cluster's name, "" for the home cluster.
	Cluster string `json:"cluster,omitempty"`
	// Resource is "resource.group" ("configmaps" in the core group), with
	// "/subresource" when the write was to one (e.g. "routes.x.dev/status").
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Creates, Updates and Deletes count the denied attempts per operation;
	// Noops counts updates whose diff was empty (ignoring status and
	// managed fields unless spec.shadow.includeStatus).
	Creates int64 `json:"creates,omitempty"`
	Updates int64 `json:"updates,omitempty"`
	Deletes int64 `json:"deletes,omitempty"`
	Noops   int64 `json:"noops,omitempty"`
	// Object is the last object the canary tried to create (managed
	// fields dropped).
	Object json.RawMessage `json:"object,omitempty"`
	// Patch is the last non-empty RFC 6902 JSON patch from the stored
	// object to what the canary tried to write.
	Patch json.RawMessage `json:"patch,omitempty"`
	// UID and ResourceVersion identify the object the canary tried to
	// delete.
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// ChangeBytes is the size of the largest would-be change (the object of
	// a create, the patch of an update; 0 for a delete).
	ChangeBytes int64 `json:"changeBytes"`
	// Truncated: Object or Patch was larger than 16 KiB and not kept.
	Truncated bool      `json:"truncated,omitempty"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// Key is "namespace/name" ("name" when cluster-scoped).
func (e *ShadowEntry) Key() string {
	if e.Namespace == "" {
		return e.Name
	}
	return e.Namespace + "/" + e.Name
}

// Ops lists the operations tried, e.g. "CREATE,DELETE".
func (e *ShadowEntry) Ops() string {
	var ops []string
	if e.Creates > 0 {
		ops = append(ops, "CREATE")
	}
	if e.Updates > 0 {
		ops = append(ops, "UPDATE")
	}
	if e.Noops > 0 && e.Updates == 0 {
		ops = append(ops, "UPDATE(no-op)")
	}
	if e.Deletes > 0 {
		ops = append(ops, "DELETE")
	}
	return strings.Join(ops, ",")
}

// ShadowRecord is a snapshot of a shadow run: the bounded per-object entries
// and the exact per-resource counts. It is what `handover canary diff`
// prints and what the shadow gates judge.
type ShadowRecord struct {
	// Canary is the ControllerCanary's name, Revision the canary's.
	Canary   string `json:"canary"`
	Revision string `json:"revision"`
	// Started is when recording began; Updated is the snapshot's time.
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// Attempts counts every denied write; Dropped the entries dropped from
	// the bound (least recently seen first).
	Attempts int64 `json:"attempts"`
	Dropped  int64 `json:"dropped"`
	// Resources are the counts per resource (distinct objects per operation
	// and all attempts); they are kept when entries are dropped (an object
	// dropped and seen again is counted again).
	Resources []v1alpha1.ShadowResourceCount `json:"resources"`
	// Entries are the objects, ordered by cluster, resource and key.
	Entries []ShadowEntry `json:"entries"`
	// PayloadsStripped: the stored copy was too large for its ConfigMap,
	// so objects and patches were left out (counts are complete).
	PayloadsStripped bool `json:"payloadsStripped,omitempty"`
}

// Totals returns the distinct objects the canary tried to create, change
// (non-empty diff) and delete, summed over every resource.
func (r *ShadowRecord) Totals() (creates, updates, deletes int64) {
	for _, c := range r.Resources {
		creates += c.Creates
		updates += c.Updates
		deletes += c.Deletes
	}
	return creates, updates, deletes
}

// Summary is the status form: the counts, the n entries with the largest
// change (ties: most attempts, then key), the drops.
func (r *ShadowRecord) Summary(n int) *v1alpha1.ShadowSummary {
	s := &v1alpha1.ShadowSummary{Resources: append([]v1alpha1.ShadowResourceCount(nil), r.Resources...), Dropped: r.Dropped}
	idx := make([]int, len(r.Entries))
	for i := range idx {
		idx[i] = i
	}
	att := func(e *ShadowEntry) int64 { return e.Creates + e.Updates + e.Deletes + e.Noops }
	sort.SliceStable(idx, func(a, b int) bool {
		ea, eb := &r.Entries[idx[a]], &r.Entries[idx[b]]
		if ea.ChangeBytes != eb.ChangeBytes {
			return ea.ChangeBytes > eb.ChangeBytes
		}
		return att(ea) > att(eb)
	})
	for _, i := range idx[:min(n, len(idx))] {
		e := &r.Entries[i]
		s.Top = append(s.Top, v1alpha1.ShadowObjectSummary{Resource: withCluster(e.Resource, e.Cluster), Key: e.Key(), Ops: e.Ops(), ChangeBytes: e.ChangeBytes})
	}
	return s
}

func withCluster(resource, cluster string) string {
	if cluster == "" {
		return resource
	}
	return resource + "@" + cluster
}

// ShadowLog records the canary's denied writes during a shadow step, per
// object, bounded to max objects (the least recently seen is dropped first
// and counted). The webhook feeds it (Record); the shadow step snapshots it.
// Safe for concurrent use.
type ShadowLog struct {
	clk           clock.PassiveClock
	max           int
	includeStatus bool
	canary, rev   string

	mu       sync.Mutex
	started  time.Time
	attempts int64
	dropped  int64
	order    *list.List               // of *ShadowEntry, most recently seen at the front
	byKey    map[string]*list.Element // cluster|resource|ns|name
	counts   map[string]*v1alpha1.ShadowResourceCount
}

// NewShadowLog returns an empty log for cc (spec.shadow's maxObjects and
// includeStatus; defaults when spec.shadow is nil). clk stamps entries (nil
// = real clock).
func NewShadowLog(cc *v1alpha1.ControllerCanary, clk clock.PassiveClock) *ShadowLog {
	if clk == nil {
		clk = clock.RealClock{}
	}
	l := &ShadowLog{clk: clk, max: DefaultShadowMaxObjects, canary: cc.Name, rev: cc.Spec.Canary.Revision}
	if s := cc.Spec.Shadow; s != nil {
		if s.MaxObjects > 0 {
			l.max = int(s.MaxObjects)
		}
		l.includeStatus = s.IncludeStatus
	}
	l.Reset()
	return l
}

// Reset forgets everything and restarts the record now.
func (l *ShadowLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = l.clk.Now()
	l.attempts, l.dropped = 0, 0
	l.order = list.New()
	l.byKey = map[string]*list.Element{}
	l.counts = map[string]*v1alpha1.ShadowResourceCount{}
}

// Record records one denied admission request of the canary in cluster
// ("" = home). The would-be change is computed by ShadowChange; a request
// whose objects cannot be decoded is still counted (without payload).
func (l *ShadowLog) Record(cluster string, req *admissionv1.AdmissionRequest) {
	res := req.Resource.Resource
	if req.Resource.Group != "" {
		res += "." + req.Resource.Group
	}
	if req.SubResource != "" {
		res += "/" + req.SubResource
	}
	name, ns := req.Name, req.Namespace
	ch := ShadowChange(req.Operation, req.OldObject.Raw, req.Object.Raw, l.includeStatus)
	if name == "" {
		name = ch.Name // a create with generateName has no name yet
	}
	now := l.clk.Now()

	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts++
	c := l.counts[withCluster(res, cluster)]
	if c == nil {
		c = &v1alpha1.ShadowResourceCount{Resource: withCluster(res, cluster)}
		l.counts[c.Resource] = c
	}
	c.Attempts++
	k := cluster + "|" + res + "|" + ns + "|" + name
	var e *ShadowEntry
	if el, ok := l.byKey[k]; ok {
		l.order.MoveToFront(el)
		e = el.Value.(*ShadowEntry)
	} else {
		e = &ShadowEntry{Cluster: cluster, Resource: res, Namespace: ns, Name: name, FirstSeen: now}
		l.byKey[k] = l.order.PushFront(e)
		for l.order.Len() > l.max {
			old := l.order.Back()
			o := old.Value.(*ShadowEntry)
			delete(l.byKey, o.Cluster+"|"+o.Resource+"|"+o.Namespace+"|"+o.Name)
			l.order.Remove(old)
			l.dropped++
		}
	}
	e.LastSeen = now
	switch req.Operation {
	case admissionv1.Create:
		if e.Creates == 0 {
			c.Creates++
		}
		e.Creates++
		e.Object, e.Truncated = keep(ch.Payload, e.Truncated)
	case admissionv1.Update:
		if ch.Empty {
			e.Noops++
			break
		}
		if e.Updates == 0 {
			c.Updates++
		}
		e.Updates++
		e.Patch, e.Truncated = keep(ch.Payload, e.Truncated)
	case admissionv1.Delete:
		if e.Deletes == 0 {
			c.Deletes++
		}
		e.Deletes++
		e.UID, e.ResourceVersion = ch.UID, ch.ResourceVersion
	}
	e.ChangeBytes = max(e.ChangeBytes, int64(len(ch.Payload)))
}

// keep returns payload when it fits maxPayloadBytes, else nil and
// truncated=true.
func keep(payload []byte, truncated bool) (json.RawMessage, bool) {
	if len(payload) > maxPayloadBytes {
		return nil, true
	}
	return payload, truncated
}

// Snapshot returns a copy of the record now.
func (l *ShadowLog) Snapshot() *ShadowRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &ShadowRecord{Canary: l.canary, Revision: l.rev, Started: l.started, Updated: l.clk.Now(), Attempts: l.attempts, Dropped: l.dropped}
	for _, c := range l.counts {
		r.Resources = append(r.Resources, *c)
	}
	sort.Slice(r.Resources, func(i, j int) bool { return r.Resources[i].Resource < r.Resources[j].Resource })
	r.Entries = make([]ShadowEntry, 0, l.order.Len())
	for el := l.order.Front(); el != nil; el = el.Next() {
		r.Entries = append(r.Entries, *el.Value.(*ShadowEntry))
	}
	sort.Slice(r.Entries, func(i, j int) bool {
		a, b := &r.Entries[i], &r.Entries[j]
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return a.Key() < b.Key()
	})
	return r
}
