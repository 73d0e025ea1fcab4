// Package telemetry is a node's OpenTelemetry tracing: a tracer provider of
// its own (no globals, so nodes in one process stay apart), exporters to an
// OTLP/HTTP collector or a JSON-lines file, W3C trace context on the wire,
// and the index that ties a log range to the traces of the requests that
// wrote it, so one trace follows an event from its origin's ingest to every
// peer that stores it:
//
//	POST /v1/events (origin) ─ log.append ─┬─ link.send → peer A ─ link.apply (A)
//	                                       └─ link.send → peer B ─ link.apply (B)
//
// With no exporter configured the tracer is a no-op and costs next to
// nothing on the write path.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config says where a node's traces go.
type Config struct {
	// Endpoint is an OTLP/HTTP collector's base URL, such as
	// http://127.0.0.1:4318; spans are posted to its /v1/traces. Empty: no
	// collector.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every export (a collector's API key, say).
	Headers map[string]string `yaml:"headers"`
	// File, if set, receives every span as a JSON object, one per line.
	File string `yaml:"file"`
	// Sample is the fraction of traces begun at this node that are
	// recorded, 0 to 1. A request that arrives with a W3C traceparent keeps
	// its caller's decision. Zero means 1 when an exporter is set: every
	// trace. Use a small fraction under heavy load.
	Sample float64 `yaml:"sample"`
	// BatchTimeout is the longest a finished span waits to be exported.
	// Zero means 2 s.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// Exporter, if set, receives spans besides Endpoint and File (tests and
	// embedders).
	Exporter sdktrace.SpanExporter `yaml:"-"`
}

// Enabled reports whether cfg exports traces anywhere.
func (c Config) Enabled() bool { return c.Endpoint != "" || c.File != "" || c.Exporter != nil }

// Validate checks cfg.
func (c Config) Validate() error {
	if c.Sample < 0 || c.Sample > 1 {
		return fmt.Errorf("traces.sample: %v is not a fraction between 0 and 1", c.Sample)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("traces.endpoint: %q is not an http(s) URL such as http://127.0.0.1:4318", c.Endpoint)
		}
	}
	return nil
}

// Tracing is one node's tracer provider.
type Tracing struct {
	tp     *sdktrace.TracerProvider // nil when tracing is off
	tracer trace.Tracer
	file   *os.File
	index  *Index
}

// Open starts tracing for the node of party. With nothing to export to, it
// returns a Tracing whose tracer does nothing.
func Open(ctx context.Context, cfg Config, party string, logger *slog.Logger) (*Tracing, error) {
	t := &Tracing{index: NewIndex(0)}
	if !cfg.Enabled() {
		t.tracer = noop.NewTracerProvider().Tracer(scope)
		return t, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var opts []sdktrace.TracerProviderOption
	batch := cfg.BatchTimeout
	if batch == 0 {
		batch = 2 * time.Second
	}
	if cfg.Endpoint != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.Endpoint+"/v1/traces"), otlptracehttp.WithHeaders(cfg.Headers),
			otlptracehttp.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
		if err != nil {
			return nil, fmt.Errorf("traces: collector %s: %w", cfg.Endpoint, err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(batch)))
	}
	if cfg.File != "" {
		f, err := os.OpenFile(cfg.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("traces: %w", err)
		}
		t.file = f
		exp, err := stdouttrace.New(stdouttrace.WithWriter(f))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("traces: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(batch)))
	}
	if cfg.Exporter != nil {
		opts = append(opts, sdktrace.WithBatcher(cfg.Exporter, sdktrace.WithBatchTimeout(batch)))
	}
	sample := cfg.Sample
	if sample == 0 {
		sample = 1
	}
	res := resource.NewSchemaless(attribute.String("service.name", "linkd"), attribute.String("linkd.party", party))
	opts = append(opts, sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sample))))
	t.tp = sdktrace.NewTracerProvider(opts...)
	t.tracer = t.tp.Tracer(scope)
	logger.Info("tracing on", "endpoint", cfg.Endpoint, "file", cfg.File, "sample", sample)
	return t, nil
}

const scope = "github.com/linkd-dev/linkd"

// Tracer is the node's tracer; a no-op one when tracing is off or t is nil.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer(scope)
	}
	return t.tracer
}

// Index ties log ranges to the traces that wrote them. Nil when t is nil.
func (t *Tracing) Index() *Index {
	if t == nil {
		return nil
	}
	return t.index
}

// On reports whether spans are recorded at all.
func (t *Tracing) On() bool { return t != nil && t.tp != nil }

// Close exports the spans still buffered and stops the exporters.
func (t *Tracing) Close(ctx context.Context) error {
	if t == nil || t.tp == nil {
		return nil
	}
	err := t.tp.Shutdown(ctx)
	if t.file != nil {
		err = errors.Join(err, t.file.Close())
	}
	return err
}

// propagator reads and writes W3C traceparent and tracestate.
var propagator = propagation.TraceContext{}

// Extract returns ctx carrying the remote span context of an HTTP request's
// traceparent header, if it has a valid one.
func Extract(ctx context.Context, h http.Header) context.Context {
	if h.Get("Traceparent") == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject writes ctx's span context into h as a traceparent header.
func Inject(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// Traceparent is sc as a W3C traceparent value, "" if sc is not valid.
func Traceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// ParseTraceparent reads a W3C traceparent value into a remote span context.
func ParseTraceparent(s string) (trace.SpanContext, bool) {
	c := propagation.MapCarrier{"traceparent": s}
	sc := trace.SpanContextFromContext(propagator.Extract(context.Background(), c))
	return sc, sc.IsValid()
}
