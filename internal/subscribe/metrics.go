package subscribe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts deliveries. A nil *Metrics counts nothing.
type Metrics struct {
	attempts  *prometheus.CounterVec
	latency   prometheus.Histogram
	deadTotal prometheus.Counter
	streams   prometheus.Gauge
}

// NewMetrics registers the delivery metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_webhook_attempts_total",
			Help: "Webhook delivery attempts, by outcome (ok or failed)."}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "linkd_webhook_delivery_seconds",
			Help:    "Time from the first attempt of a webhook delivery to the receiver's 2xx.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 20)}),
		deadTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "linkd_webhook_dead_letters_total",
			Help: "Webhook deliveries given up and dead-lettered."}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "linkd_streams_open",
			Help: "Server-Sent Events streams open now."}),
	}
	reg.MustRegister(m.attempts, m.latency, m.deadTotal, m.streams)
	return m
}

func (m *Metrics) attempt(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.attempts.WithLabelValues("ok").Inc()
	} else {
		m.attempts.WithLabelValues("failed").Inc()
	}
}

func (m *Metrics) delivered(d time.Duration) {
	if m != nil {
		m.latency.Observe(d.Seconds())
	}
}

func (m *Metrics) dead() {
	if m != nil {
		m.deadTotal.Inc()
	}
}

func (m *Metrics) stream(delta float64) {
	if m != nil {
		m.streams.Add(delta)
	}
}
