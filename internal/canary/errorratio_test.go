package canary

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/handover-dev/handover/internal/plan"
)

func TestErrorRatioGate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		from, to Reconciles
		max      int32
		want     plan.CheckState
		reason   string
	}{
		{"no reconcile yet", Reconciles{10, 1}, Reconciles{10, 1}, 5, plan.CheckNotYet, "no reconcile since"},
		{"under the limit", Reconciles{100, 0}, Reconciles{200, 5}, 5, plan.CheckDone, ""},
		{"at the limit passes", Reconciles{0, 0}, Reconciles{100, 5}, 5, plan.CheckDone, ""},
		{"over the limit fails", Reconciles{0, 0}, Reconciles{100, 6}, 5, plan.CheckFailed, "6.0 % (6 of 100) exceeds analysis.maxErrorPercent 5"},
		{"old errors do not count", Reconciles{100, 50}, Reconciles{200, 50}, 0, plan.CheckDone, ""},
		{"restart measures again", Reconciles{100, 5}, Reconciles{3, 0}, 5, plan.CheckNotYet, "went down"},
		{"zero tolerance", Reconciles{0, 0}, Reconciles{10, 1}, 0, plan.CheckFailed, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := ErrorRatioGate(c.from, c.to, c.max)
			if got.State != c.want || !strings.Contains(got.Reason, c.reason) {
				t.Fatalf("ErrorRatioGate = %+v, want %s …%q…", got, c.want, c.reason)
			}
		})
	}
}

// TestScrapeReconciles reads a real client_golang registry, shaped like
// controller-runtime's, over loopback HTTP.
func TestScrapeReconciles(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	total := prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricReconcileTotal}, []string{"controller", "result"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricReconcileErrors}, []string{"controller"})
	reg.MustRegister(total, errs)
	total.WithLabelValues("route", "success").Add(90)
	total.WithLabelValues("route", "error").Add(7)
	total.WithLabelValues("other", "requeue").Add(3)
	errs.WithLabelValues("route").Add(7)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	got, err := ScrapeReconciles(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got != (Reconciles{Total: 100, Errors: 7}) {
		t.Fatalf("ScrapeReconciles = %+v, want {100 7}", got)
	}
	if _, err := ScrapeReconciles(context.Background(), srv.Client(), srv.URL+"/nope\x7f"); err == nil {
		t.Fatal("a bad URL scraped fine")
	}
}
