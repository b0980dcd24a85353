package canary

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/handover-dev/handover/internal/plan"
)

// controller-runtime's reconcile counters (pkg/internal/controller/metrics).
const (
	MetricReconcileTotal  = "controller_runtime_reconcile_total"
	MetricReconcileErrors = "controller_runtime_reconcile_errors_total"
)

// Reconciles is a reading of a version's reconcile counters, summed over
// every controller and result label.
type Reconciles struct {
	Total  float64
	Errors float64
}

// ErrorRatioGate is the analysis gate on reconcile errors between two
// readings of one version (from = when the step began, to = now): Failed
// when errors/total of the increase exceeds maxPercent, Done otherwise,
// NotYet when nothing was reconciled since from (no evidence yet). A counter
// that went down (the process restarted) restarts the window: NotYet. Pure.
func ErrorRatioGate(from, to Reconciles, maxPercent int32) plan.Result {
	dt, de := to.Total-from.Total, to.Errors-from.Errors
	switch {
	case dt < 0 || de < 0:
		return plan.NotYet("reconcile counters went down (the version restarted); measuring again")
	case dt == 0:
		return plan.NotYet("no reconcile since the step began")
	}
	pct := de / dt * 100
	if pct > float64(maxPercent) {
		return plan.Failed(fmt.Sprintf("reconcile error ratio %.1f %% (%.0f of %.0f) exceeds analysis.maxErrorPercent %d", pct, de, dt, maxPercent))
	}
	return plan.Done()
}

// ScrapeReconciles reads url (a Prometheus text endpoint, e.g. a
// controller-runtime manager's /metrics) with client (nil =
// http.DefaultClient) and sums MetricReconcileTotal and
// MetricReconcileErrors. Errors: the request, a non-200 status, the parse.
func ScrapeReconciles(ctx context.Context, client *http.Client, url string) (Reconciles, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Reconciles{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Reconciles{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return Reconciles{}, fmt.Errorf("metrics %s: HTTP %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return Reconciles{}, fmt.Errorf("metrics %s: parse: %w", url, err)
	}
	var r Reconciles
	for _, m := range fams[MetricReconcileTotal].GetMetric() {
		r.Total += m.GetCounter().GetValue()
	}
	for _, m := range fams[MetricReconcileErrors].GetMetric() {
		r.Errors += m.GetCounter().GetValue()
	}
	return r, nil
}
