package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are a node's Prometheus metrics, in a registry of their own (no
// globals, so several nodes can run in one process, as in the demo). A nil
// *Metrics records nothing.
type Metrics struct {
	reg *prometheus.Registry

	httpSeconds   *prometheus.HistogramVec
	rejected      *prometheus.CounterVec
	requestEvents prometheus.Histogram
	ingested      *prometheus.CounterVec
	commitEvents  prometheus.Histogram
	fsyncSeconds  prometheus.Histogram
	logSize       prometheus.Gauge
}

// NewMetrics registers linkd's metrics and the Go runtime's in a new
// registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		reg: reg,
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "linkd_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by route, method and status.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_http_rejected_total",
			Help: "Requests refused at the gate, by reason (unauthorized, forbidden, rate_limited, overloaded).",
		}, []string{"reason"}),
		requestEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "linkd_ingest_request_events",
			Help:    "Events per accepted POST /v1/events.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_ingest_events_total",
			Help: "Events acknowledged over HTTP, by result (new or duplicate); rate() gives the ingest rate.",
		}, []string{"result"}),
		commitEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "linkd_log_commit_events",
			Help:    "Events per group commit of the party log (one fsync each).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "linkd_log_fsync_duration_seconds",
			Help:    "Time one group commit waited for its fsync.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		logSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "linkd_log_size",
			Help: "Durable events in the party's own log.",
		}),
	}
	reg.MustRegister(m.httpSeconds, m.rejected, m.requestEvents, m.ingested, m.commitEvents, m.fsyncSeconds, m.logSize)
	return m
}

// Registry is where other parts of the node register their metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveCommit records one group commit of the party log; wire it to the
// log's commit callback.
func (m *Metrics) ObserveCommit(events int, fsync time.Duration, size int64) {
	if m == nil {
		return
	}
	m.commitEvents.Observe(float64(events))
	m.fsyncSeconds.Observe(fsync.Seconds())
	m.logSize.Set(float64(size))
}

// SetLogSize sets the log size gauge (at start, before any commit).
func (m *Metrics) SetLogSize(size int64) {
	if m != nil {
		m.logSize.Set(float64(size))
	}
}

func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpSeconds.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

func (m *Metrics) reject(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) observeIngest(events, duplicates int) {
	if m == nil {
		return
	}
	m.requestEvents.Observe(float64(events))
	m.ingested.WithLabelValues("new").Add(float64(events - duplicates))
	if duplicates > 0 {
		m.ingested.WithLabelValues("duplicate").Add(float64(duplicates))
	}
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Metrics == nil {
		return errNoMetrics
	}
	promhttp.HandlerFor(s.cfg.Metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}
