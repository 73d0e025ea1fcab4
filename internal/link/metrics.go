package link

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the per-link figures: lag, bytes, entries and refusals by peer.
// A nil *Metrics records nothing.
type Metrics struct {
	lagEntries *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	bytes      *prometheus.CounterVec
	frames     *prometheus.CounterVec
	entries    *prometheus.CounterVec
	refused    *prometheus.CounterVec
	sendErrors *prometheus.CounterVec
	alerts     *prometheus.CounterVec
}

// NewMetrics registers the link metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lagEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "linkd_link_lag_entries",
			Help: "Entries of this node's log that a peer has not yet verified.",
		}, []string{"peer"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "linkd_link_lag_seconds",
			Help: "Age of the oldest entry of this node's log that a peer has not yet verified; 0 when it is up to date.",
		}, []string{"peer"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_link_bytes_total",
			Help: "Frame bytes sent to (direction=out) or received from (in) a peer.",
		}, []string{"peer", "direction"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_link_frames_total",
			Help: "Frames sent to (out) or accepted from (in) a peer.",
		}, []string{"peer", "direction"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_link_entries_total",
			Help: "Log entries sent (out) or verified and stored (in), as payload or commitment only.",
		}, []string{"peer", "direction", "kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_link_refused_total",
			Help: "Link requests refused, by peer (or 'unknown') and reason: unauthorized, bad_frame, wrong_origin, bad_checkpoint, root_mismatch, bad_entry, not_admitted, fork, held, gap.",
		}, []string{"peer", "reason"}),
		sendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_link_send_errors_total",
			Help: "Frames to a peer that failed (unreachable, timed out or refused); the sender retries with backoff.",
		}, []string{"peer"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_link_alerts_total",
			Help: "Alerts raised by the link layer, by kind (equivocation, verification_failed, residency_violation).",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.lagEntries, m.lagSeconds, m.bytes, m.frames, m.entries, m.refused, m.sendErrors, m.alerts)
	return m
}

func (m *Metrics) refuse(peer, reason string) {
	if m != nil {
		m.refused.WithLabelValues(peer, reason).Inc()
	}
}

func (m *Metrics) alert(kind string) {
	if m != nil {
		m.alerts.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) received(peer string, bytes int, payloads, hashes int) {
	if m == nil {
		return
	}
	m.bytes.WithLabelValues(peer, "in").Add(float64(bytes))
	m.frames.WithLabelValues(peer, "in").Inc()
	m.entries.WithLabelValues(peer, "in", "payload").Add(float64(payloads))
	m.entries.WithLabelValues(peer, "in", "commitment").Add(float64(hashes))
}

func (m *Metrics) sent(peer string, bytes int, payloads, hashes int) {
	if m == nil {
		return
	}
	m.bytes.WithLabelValues(peer, "out").Add(float64(bytes))
	m.frames.WithLabelValues(peer, "out").Inc()
	m.entries.WithLabelValues(peer, "out", "payload").Add(float64(payloads))
	m.entries.WithLabelValues(peer, "out", "commitment").Add(float64(hashes))
}

func (m *Metrics) sendError(peer string) {
	if m != nil {
		m.sendErrors.WithLabelValues(peer).Inc()
	}
}

func (m *Metrics) lag(peer string, entries int64, seconds float64) {
	if m != nil {
		m.lagEntries.WithLabelValues(peer).Set(float64(entries))
		m.lagSeconds.WithLabelValues(peer).Set(seconds)
	}
}
