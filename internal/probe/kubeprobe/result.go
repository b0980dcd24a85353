package kubeprobe

import (
	"net/http"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Result is what the probe verified at the end of a run.
type Result struct {
	Acknowledged int // creates acknowledged
	// MissingAcknowledged counts acknowledged creates absent from the
	// final LIST.
	MissingAcknowledged int
	// WatchGaps counts acknowledged creates the watch never delivered, plus
	// relists (each 410 Gone loses the events between) and resourceVersion
	// regressions.
	WatchGaps int
	// WatchResumes counts watch streams that ended and were resumed from
	// their last resourceVersion (no event lost).
	WatchResumes int
	// WatchRelists counts 410 Gone answers that forced a relist.
	WatchRelists int
	// Regressions counts events whose resourceVersion was lower than one
	// seen before.
	Regressions int
}

// Verify computes a Result from the acknowledged creates, the names in the
// final LIST and the names the watch delivered. Pure.
func Verify(acks []Ack, present, watched map[string]bool, resumes, relists, regressions int) Result {
	r := Result{Acknowledged: len(acks), WatchResumes: resumes, WatchRelists: relists, Regressions: regressions}
	for _, a := range acks {
		if !present[a.Name] {
			r.MissingAcknowledged++
		}
		if !watched[a.Name] {
			r.WatchGaps++
		}
	}
	r.WatchGaps += relists + regressions
	return r
}

// Checks returns the verified counts for report.Run.Checks.
func (r Result) Checks() map[string]int64 {
	return map[string]int64{
		"acknowledged_writes":         int64(r.Acknowledged),
		"missing_acknowledged_writes": int64(r.MissingAcknowledged),
		"watch_gaps":                  int64(r.WatchGaps),
		"watch_resumes":               int64(r.WatchResumes),
		"watch_relists":               int64(r.WatchRelists),
	}
}

func newClientset(cfg Config, rt http.RoundTripper) (*kubernetes.Clientset, error) {
	rc := &rest.Config{Host: RESTConfig(cfg).Host, Transport: rt, QPS: -1}
	return kubernetes.NewForConfig(rc)
}
