package certificateauthority

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's Prometheus series (label ca = namespace/name).
type Metrics struct {
	// Phase is handover_rotation_phase{ca,phase}: 1 for the current phase
	// (a step name, Idle, or an outcome), the other phases of ca removed.
	Phase *prometheus.GaugeVec
	// Converged is handover_consumers_converged{ca,generation}: consumers
	// verified on that bundle generation.
	Converged *prometheus.GaugeVec
	// HandshakeFailures is handover_probe_handshake_failures_total{ca,consumer}:
	// verification handshakes that failed for a reason other than a
	// deliberate rejection (connection refused, timeout, reset).
	HandshakeFailures *prometheus.CounterVec
	// Expiry is handover_ca_expiry_seconds{ca,which=active|previous}:
	// seconds until notAfter (negative once expired).
	Expiry *prometheus.GaugeVec
}

// NewMetrics creates the series and registers them on reg; a series that is
// already registered (a second manager in one process) is reused. Errors:
// registration failed for another reason.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "handover_rotation_phase", Help: "1 for the current rotation phase of a CertificateAuthority (step name, Idle or outcome).",
		}, []string{"ca", "phase"}),
		Converged: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "handover_consumers_converged", Help: "Consumers verified on a bundle generation.",
		}, []string{"ca", "generation"}),
		HandshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "handover_probe_handshake_failures_total", Help: "Verification handshakes with a consumer that failed (not counting deliberate rejections).",
		}, []string{"ca", "consumer"}),
		Expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "handover_ca_expiry_seconds", Help: "Seconds until the CA certificate's notAfter.",
		}, []string{"ca", "which"}),
	}
	var err error
	if m.Phase, err = register(reg, m.Phase); err != nil {
		return nil, err
	}
	if m.Converged, err = register(reg, m.Converged); err != nil {
		return nil, err
	}
	if m.HandshakeFailures, err = register(reg, m.HandshakeFailures); err != nil {
		return nil, err
	}
	if m.Expiry, err = register(reg, m.Expiry); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// SetPhase makes phase the only phase series of ca.
func (m *Metrics) SetPhase(ca, phase string) {
	m.Phase.DeletePartialMatch(prometheus.Labels{"ca": ca})
	m.Phase.WithLabelValues(ca, phase).Set(1)
}

// SetConverged records n consumers on generation gen (the only series of ca).
func (m *Metrics) SetConverged(ca string, gen int64, n int) {
	m.Converged.DeletePartialMatch(prometheus.Labels{"ca": ca})
	m.Converged.WithLabelValues(ca, strconv.FormatInt(gen, 10)).Set(float64(n))
}

// SetExpiry records seconds until active and previous expire (zero time =
// no such CA: the series is removed).
func (m *Metrics) SetExpiry(ca string, active, previous, now time.Time) {
	for which, t := range map[string]time.Time{"active": active, "previous": previous} {
		if t.IsZero() {
			m.Expiry.DeleteLabelValues(ca, which)
			continue
		}
		m.Expiry.WithLabelValues(ca, which).Set(t.Sub(now).Seconds())
	}
}

// Forget removes every series of ca (the object was deleted).
func (m *Metrics) Forget(ca string) {
	for _, v := range []*prometheus.GaugeVec{m.Phase, m.Converged, m.Expiry} {
		v.DeletePartialMatch(prometheus.Labels{"ca": ca})
	}
	m.HandshakeFailures.DeletePartialMatch(prometheus.Labels{"ca": ca})
}
