package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handover-dev/handover/internal/plan"
)

// funcStep is a plan step built from funcs; Check is always Done.
type funcStep struct {
	name  string
	apply func(context.Context) error
}

func (s funcStep) Name() string                      { return s.name }
func (s funcStep) Apply(ctx context.Context) error   { return s.apply(ctx) }
func (s funcStep) Check(context.Context) plan.Result { return plan.Done() }
func (s funcStep) Revert(context.Context) error      { return nil }

// The real engine runs a plan whose middle step makes a real TLS server
// present a certificate the probe does not trust; the Recorder, observing
// the engine, attributes the failures to that step and none to the others.
func TestRecorderWithRealPlanAndMTLSProbe(t *testing.T) {
	t.Parallel()
	k := newPKI(t)
	var serving atomic.Pointer[tls.Certificate]
	serving.Store(k.serverA)
	cfg := mtlsServerConfig(k.serverA, k.a, 0)
	cfg.Certificates = nil
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return serving.Load(), nil }
	srv := startTLSServer(t, cfg, nil)

	rec := NewRecorder(nil)
	sink := newWaitSink(rec)
	stop := runInBackground(&Runner{
		Probe: &MTLS{Addr: srv.addr, GetClientCertificate: fixedCert(k.clientA), GetRootCAs: fixedRoots(k.a)},
		Rate:  200, Concurrency: 2, Sink: sink,
	})
	defer stop()
	count := func(failed bool) func([]Sample) bool {
		n0 := 0
		for _, s := range sink.snapshot() {
			if s.OK() != failed {
				n0++
			}
		}
		return func(s []Sample) bool {
			n := 0
			for _, x := range s {
				if x.OK() != failed {
					n++
				}
			}
			return n >= n0+3
		}
	}
	sink.waitFor(t, "baseline successes", count(false))

	// "settle" separates the baseline from the swap: a sample that started
	// before serve-untrusted began but handshook after the swap fails in
	// settle, so the baseline's figures are deterministic.
	p := &plan.Plan{Name: "swap", PointOfNoReturn: 4, Steps: []plan.Step{
		funcStep{"settle", func(context.Context) error {
			return plan.Permanent(sink.await("successes in settle", count(false)))
		}},
		funcStep{"serve-untrusted", func(context.Context) error {
			serving.Store(k.serverB)
			return plan.Permanent(sink.await("failures while untrusted", count(true)))
		}},
		funcStep{"serve-trusted", func(context.Context) error {
			serving.Store(k.serverA)
			return plan.Permanent(sink.await("successes after restore", count(false)))
		}},
		funcStep{"idle", func(context.Context) error { return nil }},
	}}
	st, err := (&plan.Runner{Observers: []plan.Observer{rec}}).Run(context.Background(), p)
	if err != nil || st.Outcome != plan.OutcomeSucceeded {
		t.Fatalf("plan run = %+v, %v", st, err)
	}
	ended := time.Now() // after PlanEnded was stamped by the engine's real clock
	sink.waitFor(t, "successes after the plan", func(s []Sample) bool {
		n := 0
		for _, x := range s {
			if x.OK() && x.Start.After(ended) {
				n++
			}
		}
		return n >= 3
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	sum := rec.Summary()
	byName := map[string]PhaseSummary{}
	var names []string
	for _, ph := range sum.Phases {
		byName[ph.Name] = ph
		names = append(names, ph.Name)
	}
	if got := fmt.Sprint(names); got != "[baseline settle serve-untrusted serve-trusted idle after]" {
		t.Fatalf("phases = %s", got)
	}
	// Apply waited for 3 failures with at most 2 attempts in flight at the
	// swap, so at least one failed sample started inside the phase.
	if u := byName["serve-untrusted"]; u.Failures < 1 || u.FailureClasses[ClassUnknownAuthority] != u.Failures {
		t.Fatalf("serve-untrusted phase = %+v, want only unknown-authority failures", u)
	}
	for _, name := range []string{PhaseBaseline, PhaseAfter} {
		if ph := byName[name]; ph.Requests < 3 || ph.Failures != 0 {
			t.Fatalf("%s phase = %+v, want successes only", name, ph)
		}
	}
	if sum.Outcome != "Succeeded" || sum.LongestOutage <= 0 || sum.FailureClasses[ClassUnknownAuthority] != sum.Failures {
		t.Fatalf("summary = %+v", sum)
	}
}
