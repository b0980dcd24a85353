package scale

import (
	"context"
	"math"
	"net/http"
	"sort"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scraper reads the controller's /metrics.
type scraper struct{ url string }

// samples is one scrape, by metric family name.
type samples map[string]*dto.MetricFamily

func (s *scraper) scrape(ctx context.Context, b *testing.B) samples {
	b.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("scrape %s: %v", s.url, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatalf("parse %s: %v", s.url, err)
	}
	return mfs
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// reconciles is controller_runtime_reconcile_total of the
// certificateauthority controller, every result.
func (s samples) reconciles() float64 {
	var n float64
	for _, m := range s["controller_runtime_reconcile_total"].GetMetric() {
		if label(m, "controller") == "certificateauthority" {
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

// requests is rest_client_requests_total summed by method.
func (s samples) requests() map[string]float64 {
	out := map[string]float64{}
	for _, m := range s["rest_client_requests_total"].GetMetric() {
		out[label(m, "method")] += m.GetCounter().GetValue()
	}
	return out
}

func (s samples) accessReviews() float64 {
	var n float64
	for _, m := range s["handover_access_reviews_total"].GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return n
}

// latency summarizes the certificateauthority reconciles between before
// and s (before empty = since start).
func (s samples) latency(before samples) Latency {
	hist := func(x samples) map[float64]float64 {
		out := map[float64]float64{}
		for _, m := range x["controller_runtime_reconcile_time_seconds"].GetMetric() {
			if label(m, "controller") != "certificateauthority" {
				continue
			}
			for _, bk := range m.GetHistogram().GetBucket() {
				if !math.IsInf(bk.GetUpperBound(), 1) { // the +Inf bucket, if listed, is the sample count
					out[bk.GetUpperBound()] += float64(bk.GetCumulativeCount())
				}
			}
			out[math.Inf(1)] += float64(m.GetHistogram().GetSampleCount())
		}
		return out
	}
	now, then := hist(s), hist(before)
	var bounds []float64
	for ub := range now {
		bounds = append(bounds, ub)
	}
	sort.Float64s(bounds)
	cum := make([]float64, len(bounds))
	for i, ub := range bounds {
		cum[i] = now[ub] - then[ub]
	}
	if len(cum) == 0 {
		return Latency{}
	}
	return Latency{
		Count: cum[len(cum)-1],
		P50ms: round3(1000 * quantile(bounds, cum, 0.5)),
		P99ms: round3(1000 * quantile(bounds, cum, 0.99)),
	}
}

// quantile is Prometheus' histogram_quantile: bounds ascending (the last
// +Inf), cum the cumulative counts; linear within the bucket, the lower
// edge of the first bucket 0; a quantile in the +Inf bucket is the highest
// finite bound. Pure.
func quantile(bounds, cum []float64, q float64) float64 {
	total := cum[len(cum)-1]
	if total == 0 {
		return 0
	}
	rank := q * total
	i := sort.Search(len(cum), func(i int) bool { return cum[i] >= rank })
	if i >= len(bounds)-1 && math.IsInf(bounds[len(bounds)-1], 1) {
		return bounds[len(bounds)-2]
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = bounds[i-1], cum[i-1]
	}
	inBucket := cum[i] - below
	if inBucket == 0 {
		return bounds[i]
	}
	return lower + (bounds[i]-lower)*(rank-below)/inBucket
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	for _, tc := range []struct {
		name   string
		bounds []float64
		cum    []float64
		q      float64
		want   float64
	}{
		{"empty", []float64{0.1, inf}, []float64{0, 0}, 0.99, 0},
		{"all in the first bucket: linear from 0", []float64{0.01, 0.1, inf}, []float64{10, 10, 10}, 0.5, 0.005},
		{"p99 in the second bucket", []float64{0.01, 0.1, inf}, []float64{90, 100, 100}, 0.99, 0.01 + 0.09*0.9},
		{"p99 in +Inf: the highest finite bound", []float64{0.01, 0.1, inf}, []float64{10, 50, 100}, 0.99, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := quantile(tc.bounds, tc.cum, tc.q); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("quantile = %v, want %v", got, tc.want)
			}
		})
	}
}
