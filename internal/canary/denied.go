package canary

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/rest"
)

// MetricPolicyCheck is kube-apiserver's counter of ValidatingAdmissionPolicy
// evaluations (k8s.io/apiserver .../policy/validating/metrics), labelled
// policy, policy_binding, error_type and enforcement_action.
const MetricPolicyCheck = "apiserver_validating_admission_policy_check_total"

// ScrapePolicyDenials reads kube-apiserver's /metrics through rc (a REST
// client of handover's rest.Config: it needs get on the non-resource URL
// /metrics) and returns MetricPolicyCheck summed over the series with
// policy=policy and enforcement_action="deny" (0 when there is none yet).
// The counter is per apiserver process: behind a load balancer of several
// apiservers each scrape sees one of them. Errors: the request, the parse.
func ScrapePolicyDenials(ctx context.Context, rc rest.Interface, policy string) (float64, error) {
	body, err := rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("kube-apiserver /metrics: parse: %w", err)
	}
	var n float64
	for _, m := range fams[MetricPolicyCheck].GetMetric() {
		var pol, action string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "policy":
				pol = l.GetValue()
			case "enforcement_action":
				action = l.GetValue()
			}
		}
		if pol == policy && action == "deny" {
			n += m.GetCounter().GetValue()
		}
	}
	return n, nil
}

// DeniedWrites counts the canary's writes the enforcement denied since the
// counter was made: the webhook's denials of the canary revision (Observe,
// wired to Webhook.OnDecision; deletes refused by the deletion budget are
// the breaker's and not counted) plus the canary policy's denials from the
// apiserver's counter (Scrape), measured from the first Count. Safe for
// concurrent use.
type DeniedWrites struct {
	// Revision is the canary's revision.
	Revision string
	// Scrape returns the canary policy's deny counter (ScrapePolicyDenials
	// bound to a client and PolicyName); nil counts the webhook alone.
	Scrape func(ctx context.Context) (float64, error)

	mu       sync.Mutex
	webhook  int64
	baseline *float64
	last     float64
}

// Observe counts v when it is a denial of the canary revision that is not
// the deletion budget's.
func (d *DeniedWrites) Observe(v Verdict) {
	if v.Allowed || v.Budget || v.Revision != d.Revision {
		return
	}
	d.mu.Lock()
	d.webhook++
	d.mu.Unlock()
}

// Count returns the denials so far. The first call with a Scrape takes the
// apiserver counter's baseline; a counter that went down (the apiserver
// restarted) becomes the new baseline and keeps the denials seen before.
// Errors: Scrape's.
func (d *DeniedWrites) Count(ctx context.Context) (int64, error) {
	var now float64
	if d.Scrape != nil {
		v, err := d.Scrape(ctx)
		if err != nil {
			return 0, err
		}
		now = v
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Scrape != nil {
		switch {
		case d.baseline == nil:
			d.baseline = &now
		case now < d.last:
			b := *d.baseline - d.last // keep what was counted before: count = (last-baseline) + now
			d.baseline = &b
		}
		d.last = now
		return d.webhook + int64(now-*d.baseline), nil
	}
	return d.webhook, nil
}
